package lifecycle_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
	"github.com/quickvibe/quickvibe/internal/sandbox/lifecycle"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The sandboxes run this test binary as their toolbox.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// clock is a manual clock for idle timeouts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	dir   string
	store *store.Store
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{dir: t.TempDir(), store: st, clock: &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
}

// manager starts an engine on the env's state dir and a manager over it.
func (e *env) manager(t *testing.T) *lifecycle.Manager {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	engine, err := bwrap.New(t.Context(), bwrap.Config{Dir: e.dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Ready(t.Context()); err != nil {
		t.Fatalf("engine not ready: %v", err)
	}
	m := lifecycle.New(engine, e.store, lifecycle.Config{IdleTimeout: 30 * time.Minute, Now: e.clock.Now, Logger: log})
	t.Cleanup(func() { m.Close() })
	return m
}

func create(t *testing.T, m *lifecycle.Manager) string {
	t.Helper()
	info, err := m.Create(t.Context(), sandbox.Spec{Labels: map[string]string{"project": "p1", "user": "u1"}})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func state(t *testing.T, m *lifecycle.Manager, st *store.Store, id string) (engine, stored string) {
	t.Helper()
	info, err := m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.SandboxByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(info.State), rec.State
}

func wantState(t *testing.T, m *lifecycle.Manager, st *store.Store, id string, want sandbox.State) {
	t.Helper()
	e, s := state(t, m, st, id)
	if e != string(want) || s != string(want) {
		t.Fatalf("sandbox %s: engine says %s, store says %s; want %s", id, e, s, want)
	}
}

func sweep(t *testing.T, m *lifecycle.Manager) []string {
	t.Helper()
	stopped, err := m.Sweep(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stopped
}

func TestCreateIsRecorded(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	id := create(t, m)
	rec, err := e.store.SandboxByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ProjectID != "p1" || rec.UserID != "u1" || rec.Engine != "bwrap" || rec.State != "running" || !rec.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("record = %+v", rec)
	}
	if err := m.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.SandboxByID(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record after delete: %v, want ErrNotFound", err)
	}
	if _, err := m.Get(t.Context(), id); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("engine after delete: %v, want ErrNotFound", err)
	}
}

func TestIdleAutoStopAndResume(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	id := create(t, m)
	if err := m.WriteFile(t.Context(), id, "keep.txt", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := m.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "devserver", Command: "echo up; sleep 1000", Restart: true}); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(29 * time.Minute)
	if got := sweep(t, m); len(got) != 0 {
		t.Fatalf("stopped %v after 29 idle minutes", got)
	}
	// A command is activity: the idle time starts over.
	if _, err := m.Exec(t.Context(), id, sandbox.ExecRequest{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(29 * time.Minute)
	if got := sweep(t, m); len(got) != 0 {
		t.Fatalf("stopped %v 29 minutes after a command", got)
	}
	// So is preview traffic.
	m.Touch(id)
	e.clock.Advance(29 * time.Minute)
	if got := sweep(t, m); len(got) != 0 {
		t.Fatalf("stopped %v 29 minutes after preview traffic", got)
	}
	wantState(t, m, e.store, id, sandbox.StateRunning)

	e.clock.Advance(2 * time.Minute)
	if got := sweep(t, m); len(got) != 1 || got[0] != id {
		t.Fatalf("sweep after 31 idle minutes stopped %v, want [%s]", got, id)
	}
	wantState(t, m, e.store, id, sandbox.StateStopped)
	rec, _ := e.store.SandboxByID(t.Context(), id)
	if !rec.StoppedAt.Equal(e.clock.Now()) {
		t.Errorf("StoppedAt = %v, want %v", rec.StoppedAt, e.clock.Now())
	}

	// Resume: the workspace is intact and the dev server runs again.
	start := time.Now()
	if err := m.Start(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed in %s", time.Since(start).Round(time.Millisecond))
	wantState(t, m, e.store, id, sandbox.StateRunning)
	got, err := m.ReadFile(t.Context(), id, "keep.txt")
	if err != nil || string(got) != "kept" {
		t.Errorf("keep.txt after resume = %q, %v", got, err)
	}
	st, err := m.Process(t.Context(), id, "devserver")
	if err != nil || !st.Running {
		t.Errorf("devserver after resume: %+v, %v; want running", st, err)
	}
}

func TestOpenTerminalKeepsSandboxAwake(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	id := create(t, m)
	term, err := m.OpenTerminal(t.Context(), id, 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	if got := sweep(t, m); len(got) != 0 {
		t.Fatalf("stopped %v while a terminal is open", got)
	}
	term.Close()
	e.clock.Advance(29 * time.Minute)
	if got := sweep(t, m); len(got) != 0 {
		t.Fatalf("stopped %v 29 minutes after the terminal closed", got)
	}
	e.clock.Advance(2 * time.Minute)
	if got := sweep(t, m); len(got) != 1 {
		t.Fatalf("sweep stopped %v, want the sandbox", got)
	}
}

func TestWake(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	id := create(t, m)
	if err := m.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "devserver", Command: "qv-serve --port 3000", Restart: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantState(t, m, e.store, id, sandbox.StateStopped)
	m.Wake(id)
	m.Wake(id) // a second visitor while it wakes changes nothing
	if !m.Waking(id) {
		t.Error("Waking = false right after Wake")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := m.DialPort(t.Context(), id, 3000)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev server did not answer after wake: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantState(t, m, e.store, id, sandbox.StateRunning)
}

func TestRecoverAfterEngineLoss(t *testing.T) {
	e := newEnv(t)
	m1 := e.manager(t)
	running := create(t, m1)
	stopped := create(t, m1)
	if err := m1.Stop(t.Context(), stopped); err != nil {
		t.Fatal(err)
	}
	// A record whose sandbox is gone, and a sandbox without a record.
	if err := e.store.CreateSandbox(t.Context(), store.Sandbox{ID: "gone00000000", UserID: "u1", Engine: "bwrap", State: "running", CreatedAt: e.clock.Now(), LastActiveAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// The engine's sandboxes all end with it, as in a crash; the store
	// still says "running".
	m1.Close()
	mo := e.manager(t)
	// A sandbox that manager recorded, whose record is then lost.
	orphan := create(t, mo)
	if err := e.store.DeleteSandbox(t.Context(), orphan); err != nil {
		t.Fatal(err)
	}
	mo.Close()

	m2 := e.manager(t)
	if err := m2.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{running, stopped} {
		wantState(t, m2, e.store, id, sandbox.StateStopped)
	}
	if _, err := e.store.SandboxByID(t.Context(), "gone00000000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record of a vanished sandbox: %v, want dropped", err)
	}
	rec, err := e.store.SandboxByID(t.Context(), orphan)
	if err != nil || rec.UserID != "u1" || rec.ProjectID != "p1" {
		t.Errorf("adopted record = %+v, %v", rec, err)
	}
	if err := m2.Start(t.Context(), running); err != nil {
		t.Fatal(err)
	}
	wantState(t, m2, e.store, running, sandbox.StateRunning)
}
