package run

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
)

// fakeProvider is a sandbox engine whose behaviour each test sets.
type fakeProvider struct {
	sandbox.Provider // methods a test does not set panic if called
	create           func() (sandbox.Info, error)
	get              func(id string) (sandbox.Info, error)
	startProcess     func(req sandbox.ProcessRequest) error
	process          func() (sandbox.ProcessStatus, error)
	dialPort         func(port int) (net.Conn, error)

	// written are the files written into the (one) sandbox, by path.
	mu      sync.Mutex
	written map[string]string
}

// ListFiles: a new sandbox is empty until files are written.
func (f *fakeProvider) ListFiles(context.Context, string, string) ([]sandbox.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sandbox.FileInfo
	for p := range f.written {
		out = append(out, sandbox.FileInfo{Path: p})
	}
	return out, nil
}

func (f *fakeProvider) WriteFile(_ context.Context, _, path string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written == nil {
		f.written = map[string]string{}
	}
	f.written[path] = string(data)
	return nil
}

func (f *fakeProvider) writtenPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.written))
}

func (f *fakeProvider) Create(context.Context, sandbox.Spec) (sandbox.Info, error) { return f.create() }
func (f *fakeProvider) Get(_ context.Context, id string) (sandbox.Info, error)     { return f.get(id) }
func (f *fakeProvider) StartProcess(_ context.Context, _ string, r sandbox.ProcessRequest) error {
	return f.startProcess(r)
}
func (f *fakeProvider) Process(context.Context, string, string) (sandbox.ProcessStatus, error) {
	return f.process()
}
func (f *fakeProvider) DialPort(_ context.Context, _ string, port int) (net.Conn, error) {
	return f.dialPort(port)
}

// ProcessLogs: the fake dev server prints nothing.
func (f *fakeProvider) ProcessLogs(context.Context, string, sandbox.LogsRequest, func(sandbox.LogLine) error) error {
	return nil
}

// workingProvider is an engine where everything succeeds.
func workingProvider() *fakeProvider {
	return &fakeProvider{
		create: func() (sandbox.Info, error) {
			return sandbox.Info{ID: "sbx000000001", State: sandbox.StateRunning}, nil
		},
		get: func(id string) (sandbox.Info, error) {
			return sandbox.Info{ID: id, State: sandbox.StateRunning}, nil
		},
		startProcess: func(sandbox.ProcessRequest) error { return nil },
		process:      func() (sandbox.ProcessStatus, error) { return sandbox.ProcessStatus{Running: true}, nil },
		dialPort: func(int) (net.Conn, error) {
			a, b := net.Pipe()
			b.Close()
			return a, nil
		},
	}
}

type fakeAgent struct {
	run func(ctx context.Context, obs agent.Observer) (agent.Result, error)
}

func (f fakeAgent) Prompt(ctx context.Context, _ agent.Workspace, _ agent.Request, obs agent.Observer) (agent.Result, error) {
	return f.run(ctx, obs)
}

// writesIndex replaces the website starter's index.html.
func writesIndex(ctx context.Context, obs agent.Observer) (agent.Result, error) {
	obs.TextDelta("Hel")
	obs.TextDelta("lo")
	obs.AssistantText("Hello")
	obs.ToolStarted("t1", "write_file")
	obs.ToolFinished(agent.ToolEvent{ID: "t1", Name: "write_file", Action: "edit", File: "index.html", LinesAdded: 3, LinesRemoved: 29})
	obs.Usage(llm.Usage{InputTokens: 10, OutputTokens: 5})
	return agent.Result{FilesChanged: []string{"index.html"}}, nil
}

type fixture struct {
	store   *store.Store
	log     *events.Log
	m       *Manager
	user    store.User
	project store.Project
}

func newFixture(t *testing.T, p sandbox.Provider, a Agent) *fixture {
	t.Helper()
	return newFixtureWith(t, p, a, Config{
		DevServerWait: 2 * time.Second,
		// These tests are about the pipeline; the fix loop has its own.
		MaxFixAttempts: -1,
		PreviewURL:     func(id string, port int) string { return "http://preview/" + id },
	})
}

// newFixtureWith is newFixture with a Config of the test's own.
func newFixtureWith(t *testing.T, p sandbox.Provider, a Agent, cfg Config) *fixture {
	t.Helper()
	ctx := t.Context()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "qv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	u := store.User{ID: "u1", Email: "u@example.com", PasswordHash: "x", CreatedAt: now}
	pr := store.Project{ID: "p1", UserID: "u1", Name: "p", Type: "website", Status: ProjectIdle, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProject(ctx, pr); err != nil {
		t.Fatal(err)
	}
	log := events.NewLog(s)
	m := NewManager(s, log, p, a, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	return &fixture{store: s, log: log, m: m, user: u, project: pr}
}

func (f *fixture) start(t *testing.T, prompt string) store.Run {
	t.Helper()
	r, err := f.m.Start(t.Context(), f.user, f.project, prompt)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

// events waits for the run to end and returns its events.
func (f *fixture) events(t *testing.T, runID string) []store.Event {
	t.Helper()
	var out []store.Event
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := f.log.Follow(ctx, runID, 0, func(e store.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	return out
}

type terminal struct {
	Type, Code, Message string
}

// lastEvent checks that exactly one terminal event ends the log and returns it.
func lastEvent(t *testing.T, evs []store.Event) terminal {
	t.Helper()
	n := 0
	for _, e := range evs {
		if events.IsTerminal(e.Type) {
			n++
		}
	}
	if n != 1 || !events.IsTerminal(evs[len(evs)-1].Type) {
		t.Fatalf("want exactly one terminal event, last; got %d in %d events", n, len(evs))
	}
	e := evs[len(evs)-1]
	var d struct{ Code, Message string }
	_ = json.Unmarshal(e.Data, &d)
	return terminal{Type: e.Type, Code: d.Code, Message: d.Message}
}

func TestRunSucceeds(t *testing.T) {
	provider := workingProvider()
	f := newFixture(t, provider, fakeAgent{run: writesIndex})
	r := f.start(t, "  a calculator  ")
	evs := f.events(t, r.ID)
	var types, statuses []string
	for _, e := range evs {
		types = append(types, e.Type)
		if e.Type == events.TypeProgress {
			var p events.Progress
			_ = json.Unmarshal(e.Data, &p)
			statuses = append(statuses, p.Status)
		}
	}
	wantStatuses := []string{"creating", "initializing", "generating", "writing", "starting", "preview", "complete"}
	if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	wantTypes := []string{"message", "progress", "progress", "progress", "message", "message", "message", "progress", "tool", "usage", "progress", "progress", "progress", "complete"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	var first events.Message
	_ = json.Unmarshal(evs[0].Data, &first)
	if first != (events.Message{Type: "user", Content: "a calculator"}) {
		t.Errorf("first event = %+v; want the trimmed user prompt", first)
	}
	var done events.Complete
	_ = json.Unmarshal(evs[len(evs)-1].Data, &done)
	if !done.Success || done.SandboxID != "sbx000000001" || done.PreviewURL != "http://preview/sbx000000001" {
		t.Errorf("complete = %+v", done)
	}
	got, err := f.store.RunByID(t.Context(), r.ID)
	if err != nil || got.Status != StatusSucceeded || got.FinishedAt.IsZero() {
		t.Errorf("stored run = %+v, %v; want succeeded and finished", got, err)
	}
	p, _ := f.store.ProjectByID(t.Context(), f.project.ID)
	if p.Status != ProjectReady || p.SandboxID != "sbx000000001" {
		t.Errorf("project = %+v; want ready with the sandbox", p)
	}
	// The new sandbox got the website starter before the agent ran.
	if diff := cmp.Diff([]string{"index.html", "script.js", "style.css"}, provider.writtenPaths()); diff != "" {
		t.Errorf("files written into the new sandbox (-want +got):\n%s", diff)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name     string
		provider func() *fakeProvider
		agent    Agent
		code     string
		contains string
	}{
		{
			name: "sandbox cannot be created",
			provider: func() *fakeProvider {
				p := workingProvider()
				p.create = func() (sandbox.Info, error) { return sandbox.Info{}, errors.New("bwrap: /secret/host/path exploded") }
				return p
			},
			agent:    fakeAgent{run: writesIndex},
			code:     events.CodeSandbox,
			contains: "sandbox could not be created",
		},
		{
			name: "dev server exits",
			provider: func() *fakeProvider {
				p := workingProvider()
				p.dialPort = func(int) (net.Conn, error) { return nil, errors.New("refused") }
				p.process = func() (sandbox.ProcessStatus, error) {
					return sandbox.ProcessStatus{Running: false, ExitCode: 2, OutputTail: "boot\nError: port in use\n"}, nil
				}
				return p
			},
			agent:    fakeAgent{run: writesIndex},
			code:     events.CodeDevServer,
			contains: "Error: port in use",
		},
		{
			name: "dev server never answers",
			provider: func() *fakeProvider {
				p := workingProvider()
				p.dialPort = func(int) (net.Conn, error) { return nil, errors.New("refused") }
				return p
			},
			agent:    fakeAgent{run: writesIndex},
			code:     events.CodeDevServer,
			contains: "did not answer on port 3000",
		},
		{
			name:     "agent fails",
			provider: workingProvider,
			agent: fakeAgent{run: func(context.Context, agent.Observer) (agent.Result, error) {
				return agent.Result{}, errors.New("stream cut")
			}},
			code:     events.CodeModel,
			contains: "model call failed",
		},
		{
			name:     "agent panics",
			provider: workingProvider,
			agent: fakeAgent{run: func(context.Context, agent.Observer) (agent.Result, error) {
				panic("boom")
			}},
			code:     events.CodeInternal,
			contains: "server log",
		},
		{
			name:     "no model",
			provider: workingProvider,
			agent:    nil,
			code:     events.CodeNoModel,
			contains: "ANTHROPIC_API_KEY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.provider(), tt.agent)
			r := f.start(t, "x")
			got := lastEvent(t, f.events(t, r.ID))
			if got.Type != events.TypeError || got.Code != tt.code || !strings.Contains(got.Message, tt.contains) {
				t.Errorf("terminal = %+v; want error %s containing %q", got, tt.code, tt.contains)
			}
			if strings.Contains(got.Message, "/secret/host/path") || strings.Contains(got.Message, "boom") {
				t.Errorf("terminal message leaks internals: %q", got.Message)
			}
			stored, _ := f.store.RunByID(t.Context(), r.ID)
			if stored.Status != StatusFailed || stored.ErrorCode != tt.code {
				t.Errorf("stored run = %+v; want failed with %s", stored, tt.code)
			}
		})
	}
}

// blockingAgent waits inside the agent loop until its context ends.
func blockingAgent(started chan<- struct{}) Agent {
	return fakeAgent{run: func(ctx context.Context, obs agent.Observer) (agent.Result, error) {
		close(started)
		<-ctx.Done()
		return agent.Result{}, ctx.Err()
	}}
}

func TestCancelAndShutdown(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		started := make(chan struct{})
		f := newFixture(t, workingProvider(), blockingAgent(started))
		r := f.start(t, "x")
		<-started
		if _, err := f.m.Start(t.Context(), f.user, f.project, "another"); !errors.Is(err, ErrProjectBusy) {
			t.Errorf("second Start = %v, want ErrProjectBusy", err)
		}
		if err := f.m.Cancel(r.ID); err != nil {
			t.Fatal(err)
		}
		if got := lastEvent(t, f.events(t, r.ID)); got.Code != events.CodeCancelled {
			t.Errorf("terminal = %+v, want cancelled", got)
		}
		if err := f.m.Cancel(r.ID); !errors.Is(err, ErrNotActive) {
			t.Errorf("Cancel of a finished run = %v, want ErrNotActive", err)
		}
		stored, _ := f.store.RunByID(t.Context(), r.ID)
		if stored.Status != StatusCancelled {
			t.Errorf("stored status = %s", stored.Status)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		started := make(chan struct{})
		f := newFixture(t, workingProvider(), blockingAgent(started))
		r := f.start(t, "x")
		<-started
		if err := f.m.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := lastEvent(t, f.events(t, r.ID)); got.Code != events.CodeInterrupted {
			t.Errorf("terminal = %+v, want interrupted", got)
		}
		if _, err := f.m.Start(t.Context(), f.user, f.project, "x"); !errors.Is(err, ErrShutdown) {
			t.Errorf("Start after shutdown = %v, want ErrShutdown", err)
		}
	})
}

func TestRecoverEndsOrphanedRuns(t *testing.T) {
	f := newFixture(t, workingProvider(), fakeAgent{run: writesIndex})
	ctx := t.Context()
	// A run a crashed process left behind, with one event written.
	orphan := store.Run{ID: "r-old", ProjectID: f.project.ID, UserID: f.user.ID, Prompt: "x", Status: StatusRunning, CreatedAt: time.Now().UTC()}
	if err := f.store.CreateRun(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AppendEvent(ctx, store.Event{RunID: orphan.ID, Seq: 1, Type: events.TypeMessage, Data: []byte(`{}`), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Recover(ctx); err != nil {
		t.Fatalf("second Recover: %v", err)
	}
	evs := f.events(t, orphan.ID)
	if len(evs) != 2 {
		t.Fatalf("got %d events, want the old one plus one terminal", len(evs))
	}
	if got := lastEvent(t, evs); got.Code != events.CodeInterrupted {
		t.Errorf("terminal = %+v, want interrupted", got)
	}
	stored, _ := f.store.RunByID(ctx, orphan.ID)
	if stored.Status != StatusInterrupted {
		t.Errorf("stored status = %s, want interrupted", stored.Status)
	}
	// The project can run again.
	r := f.start(t, "again")
	if got := lastEvent(t, f.events(t, r.ID)); got.Type != events.TypeComplete {
		t.Errorf("run after recovery ended with %+v", got)
	}
}

func TestStartRefusesBadPrompts(t *testing.T) {
	f := newFixture(t, workingProvider(), fakeAgent{run: writesIndex})
	for _, p := range []string{"", "   \n", strings.Repeat("x", MaxPromptLength+1)} {
		var ie *InvalidPromptError
		if _, err := f.m.Start(t.Context(), f.user, f.project, p); !errors.As(err, &ie) {
			t.Errorf("Start(%d bytes) = %v, want InvalidPromptError", len(p), err)
		}
	}
}
