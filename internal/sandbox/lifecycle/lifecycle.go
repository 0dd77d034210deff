// Package lifecycle keeps sandboxes' lifecycle in the store on top of any
// sandbox engine: it records every create, start, stop and delete, counts
// activity, stops sandboxes that stayed idle too long, wakes stopped ones on
// demand (restarting their supervised processes), and on server start
// reconciles the store with what the engine really has.
//
// The Manager is itself a sandbox.Provider wrapping the engine, so the run
// pipeline and the preview proxy use it unchanged and every call they make
// counts as activity. It knows nothing of agents or HTTP.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
)

// Store is the part of the store the manager needs.
type Store interface {
	CreateSandbox(ctx context.Context, sb store.Sandbox) error
	SandboxByID(ctx context.Context, id string) (store.Sandbox, error)
	SandboxesByUser(ctx context.Context, userID string) ([]store.Sandbox, error)
	AllSandboxes(ctx context.Context) ([]store.Sandbox, error)
	SetSandboxState(ctx context.Context, id, state string, stoppedAt, at time.Time) error
	TouchSandbox(ctx context.Context, id string, at time.Time) error
	SetSandboxProcesses(ctx context.Context, id string, ps []store.SupervisedProcess) error
	DeleteSandbox(ctx context.Context, id string) error
}

// Labels of sandbox.Spec the manager records as the owner.
const (
	LabelProject = "project"
	LabelUser    = "user"
)

// Config configures a Manager.
type Config struct {
	// IdleTimeout stops a running sandbox after this long without
	// activity (default 30m).
	IdleTimeout time.Duration
	// SweepInterval is how often Run looks for idle sandboxes (default 1m).
	SweepInterval time.Duration
	// Now is the clock (default time.Now); tests inject their own.
	Now    func() time.Time
	Logger *slog.Logger
}

const (
	defaultIdleTimeout   = 30 * time.Minute
	defaultSweepInterval = time.Minute
	// touchPersistEvery bounds how often activity is written to the store:
	// preview traffic touches on every request.
	touchPersistEvery = 30 * time.Second
	// wakeGrace is how long after a wake the sandbox counts as starting
	// while its dev server does not answer yet.
	wakeGrace   = 2 * time.Minute
	wakeTimeout = 2 * time.Minute
)

// Manager wraps an engine with the lifecycle kept in the store.
type Manager struct {
	sandbox.Provider // the engine; methods not overridden pass through
	store            Store
	idle             time.Duration
	sweepEvery       time.Duration
	now              func() time.Time
	log              *slog.Logger

	mu        sync.Mutex
	active    map[string]time.Time // last activity seen in memory
	persisted map[string]time.Time // last activity written to the store
	holds     map[string]int       // open sessions that keep a sandbox awake
	waking    map[string]time.Time // wake start, while waking or in its grace
	inWake    map[string]bool

	baseCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a Manager over engine. Call Recover once before serving and
// Run for the idle sweeps; Close stops both and the engine.
func New(engine sandbox.Provider, st Store, cfg Config) *Manager {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = defaultSweepInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		Provider: engine, store: st,
		idle: cfg.IdleTimeout, sweepEvery: cfg.SweepInterval, now: cfg.Now, log: cfg.Logger,
		active: make(map[string]time.Time), persisted: make(map[string]time.Time),
		holds: make(map[string]int), waking: make(map[string]time.Time), inWake: make(map[string]bool),
		baseCtx: ctx, cancel: cancel,
	}
}

var _ sandbox.Provider = (*Manager)(nil)

// Create implements sandbox.Provider and records the new sandbox, owned by
// the spec's project and user labels.
func (m *Manager) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Info, error) {
	info, err := m.Provider.Create(ctx, spec)
	if err != nil {
		return sandbox.Info{}, err
	}
	now := m.now()
	err = m.store.CreateSandbox(ctx, store.Sandbox{
		ID: info.ID, ProjectID: spec.Labels[LabelProject], UserID: spec.Labels[LabelUser],
		Engine: m.Name(), State: string(sandbox.StateRunning), CreatedAt: now, LastActiveAt: now,
	})
	if err != nil {
		// An unrecorded sandbox would be nobody's: do not keep it.
		if derr := m.Provider.Delete(context.WithoutCancel(ctx), info.ID); derr != nil {
			m.log.Error("delete unrecorded sandbox", "sandbox_id", info.ID, "err", derr)
		}
		return sandbox.Info{}, fmt.Errorf("record sandbox %s: %w", info.ID, err)
	}
	m.touch(ctx, info.ID)
	return info, nil
}

// Start implements sandbox.Provider: it resumes the sandbox, records it as
// running and starts its supervised processes again.
func (m *Manager) Start(ctx context.Context, id string) error {
	rec, err := m.store.SandboxByID(ctx, id)
	if err != nil {
		return err
	}
	info, err := m.Provider.Get(ctx, id)
	if err != nil {
		return err
	}
	wasRunning := info.State == sandbox.StateRunning
	if !wasRunning {
		if err := m.Provider.Start(ctx, id); err != nil {
			return err
		}
	}
	if err := m.store.SetSandboxState(ctx, id, string(sandbox.StateRunning), time.Time{}, m.now()); err != nil {
		return err
	}
	m.resetActivity(id)
	if wasRunning {
		return nil
	}
	for _, p := range rec.Processes {
		err := m.Provider.StartProcess(ctx, id, sandbox.ProcessRequest{Name: p.Name, Command: p.Command, Restart: true})
		if err != nil {
			return fmt.Errorf("sandbox %s: restart process %s: %w", id, p.Name, err)
		}
	}
	return nil
}

// Stop implements sandbox.Provider and records the stop.
func (m *Manager) Stop(ctx context.Context, id string) error {
	if _, err := m.store.SandboxByID(ctx, id); err != nil {
		return err
	}
	if err := m.Provider.Stop(ctx, id); err != nil {
		return err
	}
	now := m.now()
	return m.store.SetSandboxState(ctx, id, string(sandbox.StateStopped), now, now)
}

// Delete implements sandbox.Provider and forgets the sandbox.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if err := m.Provider.Delete(ctx, id); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		return err
	}
	m.mu.Lock()
	delete(m.active, id)
	delete(m.persisted, id)
	delete(m.waking, id)
	m.mu.Unlock()
	return m.store.DeleteSandbox(ctx, id)
}

// StartProcess implements sandbox.Provider. A supervised (Restart) process
// is remembered and started again whenever the sandbox resumes.
func (m *Manager) StartProcess(ctx context.Context, id string, req sandbox.ProcessRequest) error {
	m.touch(ctx, id)
	if err := m.Provider.StartProcess(ctx, id, req); err != nil {
		return err
	}
	rec, err := m.store.SandboxByID(ctx, id)
	if err != nil {
		return err
	}
	procs := slices.DeleteFunc(rec.Processes, func(p store.SupervisedProcess) bool { return p.Name == req.Name })
	if req.Restart {
		procs = append(procs, store.SupervisedProcess{Name: req.Name, Command: req.Command})
	}
	if len(procs) == len(rec.Processes) && !req.Restart {
		return nil
	}
	return m.store.SetSandboxProcesses(ctx, id, procs)
}

// The calls below count as activity and pass through to the engine.

func (m *Manager) Exec(ctx context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	m.touch(ctx, id)
	defer m.touch(ctx, id) // a long command is activity until it ends
	return m.Provider.Exec(ctx, id, req)
}

func (m *Manager) WriteFile(ctx context.Context, id, path string, data []byte) error {
	m.touch(ctx, id)
	return m.Provider.WriteFile(ctx, id, path, data)
}

func (m *Manager) DeleteFile(ctx context.Context, id, path string) error {
	m.touch(ctx, id)
	return m.Provider.DeleteFile(ctx, id, path)
}

func (m *Manager) DialPort(ctx context.Context, id string, port int) (net.Conn, error) {
	m.touch(ctx, id)
	return m.Provider.DialPort(ctx, id, port)
}

// OpenTerminal implements sandbox.Provider; the sandbox stays awake while
// the terminal is open.
func (m *Manager) OpenTerminal(ctx context.Context, id string, cols, rows int) (sandbox.Terminal, error) {
	t, err := m.Provider.OpenTerminal(ctx, id, cols, rows)
	if err != nil {
		return nil, err
	}
	release := m.Hold(id)
	return &heldTerminal{Terminal: t, release: release, touch: func() { m.touch(context.Background(), id) }}, nil
}

type heldTerminal struct {
	sandbox.Terminal
	release func()
	touch   func()
	once    sync.Once
}

func (t *heldTerminal) Input(ctx context.Context, p []byte) error {
	t.touch()
	return t.Terminal.Input(ctx, p)
}

func (t *heldTerminal) Close() error {
	t.once.Do(t.release)
	return t.Terminal.Close()
}

// Touch records activity on a sandbox now (preview traffic).
func (m *Manager) Touch(id string) { m.touch(context.Background(), id) }

func (m *Manager) touch(ctx context.Context, id string) {
	now := m.now()
	m.mu.Lock()
	if now.After(m.active[id]) {
		m.active[id] = now
	}
	persist := now.Sub(m.persisted[id]) >= touchPersistEvery
	if persist {
		m.persisted[id] = now
	}
	m.mu.Unlock()
	if persist {
		if err := m.store.TouchSandbox(context.WithoutCancel(ctx), id, now); err != nil {
			m.log.Warn("record sandbox activity", "sandbox_id", id, "err", err)
		}
	}
}

// resetActivity makes now the last activity, in memory and in the store
// (which SetSandboxState already did).
func (m *Manager) resetActivity(id string) {
	now := m.now()
	m.mu.Lock()
	m.active[id], m.persisted[id] = now, now
	m.mu.Unlock()
}

// Hold keeps the sandbox from being stopped as idle until release is
// called (an open terminal). Release counts as activity.
func (m *Manager) Hold(id string) (release func()) {
	m.mu.Lock()
	m.holds[id]++
	m.mu.Unlock()
	m.touch(context.Background(), id)
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			if m.holds[id]--; m.holds[id] <= 0 {
				delete(m.holds, id)
			}
			m.mu.Unlock()
			m.touch(context.Background(), id)
		})
	}
}

// Sweep stops every running sandbox idle for longer than the idle
// timeout, and returns the ids it stopped.
func (m *Manager) Sweep(ctx context.Context) ([]string, error) {
	recs, err := m.store.AllSandboxes(ctx)
	if err != nil {
		return nil, err
	}
	var stopped []string
	now := m.now()
	for _, rec := range recs {
		if rec.State != string(sandbox.StateRunning) {
			continue
		}
		m.mu.Lock()
		last := rec.LastActiveAt
		if t := m.active[rec.ID]; t.After(last) {
			last = t
		}
		held := m.holds[rec.ID] > 0 || m.inWake[rec.ID]
		m.mu.Unlock()
		if held || now.Sub(last) < m.idle {
			continue
		}
		m.log.Info("stopping idle sandbox", "sandbox_id", rec.ID, "idle", now.Sub(last).Round(time.Second))
		if err := m.Stop(ctx, rec.ID); err != nil {
			m.log.Error("stop idle sandbox", "sandbox_id", rec.ID, "err", err)
			continue
		}
		stopped = append(stopped, rec.ID)
	}
	return stopped, nil
}

// Run sweeps for idle sandboxes until Close.
func (m *Manager) Run() {
	m.wg.Go(func() {
		t := time.NewTicker(m.sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-m.baseCtx.Done():
				return
			case <-t.C:
				if _, err := m.Sweep(m.baseCtx); err != nil && m.baseCtx.Err() == nil {
					m.log.Error("idle sweep", "err", err)
				}
			}
		}
	})
}

// Wake starts a stopped sandbox in the background (the preview of a
// stopped sandbox was opened) and returns at once. Waking one that is
// already waking does nothing.
func (m *Manager) Wake(id string) {
	m.mu.Lock()
	if m.inWake[id] {
		m.mu.Unlock()
		return
	}
	m.inWake[id] = true
	m.waking[id] = m.now()
	m.mu.Unlock()
	m.wg.Go(func() {
		defer func() {
			m.mu.Lock()
			delete(m.inWake, id)
			m.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(m.baseCtx, wakeTimeout)
		defer cancel()
		start := time.Now()
		if err := m.Start(ctx, id); err != nil {
			m.log.Error("wake sandbox", "sandbox_id", id, "err", err)
			return
		}
		m.log.Info("sandbox woken", "sandbox_id", id, "took", time.Since(start).Round(time.Millisecond))
	})
}

// Waking reports whether the sandbox is being woken or was woken so
// recently that a port not answering yet means "still starting".
func (m *Manager) Waking(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inWake[id] {
		return true
	}
	t, ok := m.waking[id]
	return ok && m.now().Sub(t) < wakeGrace
}

// Recover reconciles the store with the engine after a restart (or a
// crash): sandboxes the engine has but the store does not are adopted
// from their labels, records of sandboxes the engine no longer has are
// dropped, and every record says what the engine says (after a crash
// nothing runs: bwrap sandboxes die with the server).
func (m *Manager) Recover(ctx context.Context) error {
	infos, err := m.Provider.List(ctx)
	if err != nil {
		return fmt.Errorf("recover sandboxes: %w", err)
	}
	recs, err := m.store.AllSandboxes(ctx)
	if err != nil {
		return fmt.Errorf("recover sandboxes: %w", err)
	}
	byID := make(map[string]store.Sandbox, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	now := m.now()
	seen := make(map[string]bool, len(infos))
	for _, info := range infos {
		seen[info.ID] = true
		rec, ok := byID[info.ID]
		if !ok {
			sb := store.Sandbox{
				ID: info.ID, ProjectID: info.Labels[LabelProject], UserID: info.Labels[LabelUser],
				Engine: m.Name(), State: string(info.State), CreatedAt: info.CreatedAt, LastActiveAt: now,
			}
			if info.State != sandbox.StateRunning {
				sb.StoppedAt = now
			}
			if err := m.store.CreateSandbox(ctx, sb); err != nil {
				return fmt.Errorf("recover sandbox %s: %w", info.ID, err)
			}
			m.log.Info("adopted sandbox", "sandbox_id", info.ID, "state", info.State)
			continue
		}
		if rec.State == string(info.State) {
			continue
		}
		stoppedAt := time.Time{}
		if info.State != sandbox.StateRunning {
			stoppedAt = now
		}
		if err := m.store.SetSandboxState(ctx, info.ID, string(info.State), stoppedAt, rec.LastActiveAt); err != nil {
			return fmt.Errorf("recover sandbox %s: %w", info.ID, err)
		}
		m.log.Info("corrected sandbox state", "sandbox_id", info.ID, "was", rec.State, "now", info.State)
	}
	for _, r := range recs {
		if seen[r.ID] {
			continue
		}
		if err := m.store.DeleteSandbox(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("recover sandbox %s: %w", r.ID, err)
		}
		m.log.Warn("dropped record of a sandbox the engine no longer has", "sandbox_id", r.ID)
	}
	return nil
}

// Sandbox is a record with what the engine says about it now.
type Sandbox struct {
	store.Sandbox
	// Usage is zero apart from DiskBytes while the sandbox is stopped.
	Usage sandbox.Usage
}

// Lookup returns the sandbox's record with its state as the engine says,
// without measuring usage.
func (m *Manager) Lookup(ctx context.Context, id string) (store.Sandbox, error) {
	rec, err := m.store.SandboxByID(ctx, id)
	if err != nil {
		return store.Sandbox{}, err
	}
	info, err := m.Provider.Get(ctx, id)
	if err != nil {
		return store.Sandbox{}, err
	}
	rec.State = string(info.State)
	return rec, nil
}

// Describe returns the sandbox's record, state from the engine, and usage.
func (m *Manager) Describe(ctx context.Context, id string) (Sandbox, error) {
	rec, err := m.store.SandboxByID(ctx, id)
	if err != nil {
		return Sandbox{}, err
	}
	return m.describe(ctx, rec)
}

// ForUser describes the user's sandboxes, newest first.
func (m *Manager) ForUser(ctx context.Context, userID string) ([]Sandbox, error) {
	recs, err := m.store.SandboxesByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Sandbox, 0, len(recs))
	for _, rec := range recs {
		sb, err := m.describe(ctx, rec)
		if errors.Is(err, sandbox.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

func (m *Manager) describe(ctx context.Context, rec store.Sandbox) (Sandbox, error) {
	info, err := m.Provider.Get(ctx, rec.ID)
	if err != nil {
		return Sandbox{}, err
	}
	rec.State = string(info.State)
	m.mu.Lock()
	if t := m.active[rec.ID]; t.After(rec.LastActiveAt) {
		rec.LastActiveAt = t
	}
	m.mu.Unlock()
	u, err := m.Provider.Usage(ctx, rec.ID)
	if err != nil {
		return Sandbox{}, err
	}
	return Sandbox{Sandbox: rec, Usage: u}, nil
}

// Close stops the sweeps and wakes in progress, then the engine.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return m.Provider.Close()
}
