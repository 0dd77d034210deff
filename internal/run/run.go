// Package run carries out one prompt: sandbox, agent, dev server, preview,
// and exactly one terminal event. A run belongs to the server, not to the
// request that started it: closing the browser does not stop it.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/preview"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
)

// Domain errors.
var (
	ErrProjectBusy = errors.New("run: the project already has a run in progress")
	ErrNotActive   = errors.New("run: the run is not in progress")
	ErrShutdown    = errors.New("run: the server is shutting down")
)

// InvalidPromptError says what is wrong with a prompt, in words for users.
type InvalidPromptError struct{ Msg string }

func (e *InvalidPromptError) Error() string { return e.Msg }

// MaxPromptLength bounds a prompt, in bytes.
const MaxPromptLength = 32 << 10

// Run statuses as stored.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusInterrupted = "interrupted"
)

// Project statuses as stored.
const (
	ProjectIdle    = "idle"
	ProjectRunning = "running"
	ProjectReady   = "ready"
	ProjectError   = "error"
)

// Store is what runs need from the store.
type Store interface {
	CreateRun(ctx context.Context, r store.Run) error
	FinishRun(ctx context.Context, id, status, errorCode, errorMessage string, finishedAt time.Time) error
	RunningRuns(ctx context.Context) ([]store.Run, error)
	SetProjectSandbox(ctx context.Context, id, sandboxID string) error
	SetProjectStatus(ctx context.Context, id, status string) error
	// The agent's conversation and spending (build.go).
	Conversation(ctx context.Context, projectID string) ([]store.ConversationMessage, error)
	AppendConversation(ctx context.Context, projectID, runID string, msgs []store.ConversationMessage) error
	AddModelUsage(ctx context.Context, u store.ModelUsage) error
	UserCostSince(ctx context.Context, userID string, t time.Time) (int64, error)
}

// Agent builds and changes the app inside a workspace.
type Agent interface {
	Prompt(ctx context.Context, ws agent.Workspace, req agent.Request, obs agent.Observer) (agent.Result, error)
}

// Config tunes runs.
type Config struct {
	// Timeout bounds one run.
	Timeout time.Duration
	// MaxFixAttempts bounds the rounds of fixing errors per prompt; negative
	// means none, zero DefaultMaxFixAttempts.
	MaxFixAttempts int
	// MaxRunCostUSD and MaxUserMonthlyCostUSD cap spending (0: no cap).
	MaxRunCostUSD         float64
	MaxUserMonthlyCostUSD float64
	// Prices turns usage into cost.
	Prices llm.Prices
	// BrowserErrors, if set, returns the errors the preview's pages reported
	// for a sandbox since a time (preview.Reports).
	BrowserErrors func(sandboxID string, since time.Time) []string
	// Browser, if set, loads the app's page at every check and reports the
	// errors it throws (browsercheck.go); nil skips that part of the check.
	Browser *screenshot.Browser
	// BrowserStartWait bounds the wait for the browser's first start, and
	// BrowserCheckTime one page load after it (defaults 20s and 5s).
	BrowserStartWait time.Duration
	BrowserCheckTime time.Duration
	// DevServerWait bounds the wait for the dev server's port.
	DevServerWait time.Duration
	// NoModel, when set, is why no model is configured; runs then end with
	// an error event that says so.
	NoModel string
	// PreviewURL makes the browser-facing URL of a sandbox port.
	PreviewURL func(sandboxID string, port int) string
	// Versions, if set, records each run's files as a version and fills a
	// new sandbox with the latest version.
	Versions Versions
	// AfterSuccess, if set, runs after a successful run's complete event,
	// e.g. to screenshot the preview; its error is logged, never shown,
	// because the run has already succeeded. versionID is the version the
	// run recorded, "" if none.
	AfterSuccess func(ctx context.Context, p store.Project, sandboxID, versionID string) error
	// EgressRefusals, if set, calls fn with a line for every request of
	// the sandbox that its egress proxy refused, until stop is called; the
	// run shows them as `log` events (stream "egress").
	EgressRefusals func(sandboxID string, fn func(line string)) (stop func())
}

// Versions keeps a project's history (internal/version).
type Versions interface {
	Snapshot(ctx context.Context, projectID, sandboxID string, c version.Commit) (version.Version, bool, error)
	Checkout(ctx context.Context, projectID, sandboxID string) (version.Version, error)
}

// Manager starts runs and owns their goroutines.
type Manager struct {
	store     Store
	log       *events.Log
	sandboxes sandbox.Provider
	agent     Agent
	cfg       Config
	logger    *slog.Logger

	ctx    context.Context // parent of every run; cancelled on shutdown
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	active    map[string]context.CancelCauseFunc // run id → cancel
	byProject map[string]string                  // project id → run id, or "" while Reserved
	checked   map[string]time.Time               // sandbox id → last app check (build.go)

	// pageProxy serves the browser check its pages (browsercheck.go).
	pageProxy *preview.Proxy
}

func NewManager(s Store, log *events.Log, sandboxes sandbox.Provider, a Agent, cfg Config, logger *slog.Logger) *Manager {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.DevServerWait <= 0 {
		cfg.DevServerWait = 30 * time.Second
	}
	switch {
	case cfg.MaxFixAttempts == 0:
		cfg.MaxFixAttempts = DefaultMaxFixAttempts
	case cfg.MaxFixAttempts < 0:
		cfg.MaxFixAttempts = 0
	}
	if cfg.Prices == nil {
		cfg.Prices = llm.DefaultPrices()
	}
	if cfg.BrowserStartWait <= 0 {
		cfg.BrowserStartWait = defaultBrowserStartWait
	}
	if cfg.BrowserCheckTime <= 0 {
		cfg.BrowserCheckTime = defaultBrowserCheckTime
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Manager{
		store: s, log: log, sandboxes: sandboxes, agent: a, cfg: cfg, logger: logger,
		ctx: ctx, cancel: cancel,
		active: make(map[string]context.CancelCauseFunc), byProject: make(map[string]string),
		pageProxy: newPageProxy(sandboxes, logger.With("component", "browser-check")),
	}
}

// Recover ends the runs a previous server process left running: each gets an
// `error` event with code interrupted, so its stream still ends exactly once.
func (m *Manager) Recover(ctx context.Context) error {
	runs, err := m.store.RunningRuns(ctx)
	if err != nil {
		return fmt.Errorf("list running runs: %w", err)
	}
	for _, r := range runs {
		msg := "The server restarted while this run was in progress. Your files are kept; send the prompt again to continue."
		if _, err := m.log.AppendClosed(ctx, r.ID, events.TypeError, events.Error{Message: msg, Code: events.CodeInterrupted}); err != nil {
			return fmt.Errorf("close interrupted run %s: %w", r.ID, err)
		}
		if err := m.store.FinishRun(ctx, r.ID, StatusInterrupted, events.CodeInterrupted, msg, time.Now().UTC()); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("finish interrupted run %s: %w", r.ID, err)
		}
		if err := m.store.SetProjectStatus(ctx, r.ProjectID, ProjectError); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("mark project %s: %w", r.ProjectID, err)
		}
		m.logger.Info("marked interrupted run", "run_id", r.ID, "project_id", r.ProjectID)
	}
	return nil
}

// Start creates a run for prompt on project p and starts it in the
// background. The returned run is already stored and its event log open.
func (m *Manager) Start(ctx context.Context, u store.User, p store.Project, prompt string) (store.Run, error) {
	prompt = strings.TrimSpace(prompt)
	switch {
	case prompt == "":
		return store.Run{}, &InvalidPromptError{Msg: "the prompt is empty: describe what to build or change"}
	case len(prompt) > MaxPromptLength:
		return store.Run{}, &InvalidPromptError{Msg: fmt.Sprintf("the prompt is too long (%d bytes; at most %d)", len(prompt), MaxPromptLength)}
	}
	if err := m.ctx.Err(); err != nil {
		return store.Run{}, ErrShutdown
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.byProject[p.ID]; busy {
		return store.Run{}, ErrProjectBusy
	}
	r := store.Run{
		ID: uuid.Must(uuid.NewV7()).String(), ProjectID: p.ID, UserID: u.ID,
		Prompt: prompt, Status: StatusRunning, CreatedAt: time.Now().UTC(),
	}
	if err := m.store.CreateRun(ctx, r); err != nil {
		return store.Run{}, fmt.Errorf("create run: %w", err)
	}
	if err := m.log.Open(ctx, r.ID); err != nil {
		return store.Run{}, err
	}
	if err := m.store.SetProjectStatus(ctx, p.ID, ProjectRunning); err != nil {
		m.logger.Warn("set project status", "project_id", p.ID, "err", err)
	}
	runCtx, cancel := context.WithCancelCause(m.ctx)
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, m.cfg.Timeout, errRunTimeout)
	m.active[r.ID] = cancel
	m.byProject[p.ID] = r.ID
	m.wg.Go(func() {
		defer cancelTimeout()
		defer cancel(nil)
		m.execute(runCtx, r, p, u)
	})
	return r, nil
}

// Reserve keeps runs off project projectID until release is called, for
// work that must not race a run (restoring a version, saving a file). It
// fails with ErrProjectBusy while a run is in progress.
func (m *Manager) Reserve(projectID string) (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.byProject[projectID]; busy {
		return nil, ErrProjectBusy
	}
	m.byProject[projectID] = ""
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.byProject[projectID] == "" {
			delete(m.byProject, projectID)
		}
	}, nil
}

// Cancel stops a run in progress; it ends with an error event, code cancelled.
func (m *Manager) Cancel(runID string) error {
	m.mu.Lock()
	cancel, ok := m.active[runID]
	m.mu.Unlock()
	if !ok {
		return ErrNotActive
	}
	cancel(errCancelled)
	return nil
}

// Shutdown interrupts every run and waits for each to write its terminal
// event, or for ctx to end.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.cancel(ErrShutdown)
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for runs to stop: %w", ctx.Err())
	}
}

var (
	errCancelled  = errors.New("run cancelled by the user")
	errRunTimeout = errors.New("run took too long")
)

// stepError is a failure with a code and a message fit for the user.
type stepError struct {
	code string
	msg  string
	err  error
}

func (e *stepError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *stepError) Unwrap() error { return e.err }

func fail(code, msg string, err error) error { return &stepError{code: code, msg: msg, err: err} }

// execute runs the pipeline and writes exactly one terminal event. The
// stored state is final before that event is written, so a client that sees
// it can read the project and prompt again at once.
func (m *Manager) execute(ctx context.Context, r store.Run, p store.Project, u store.User) {
	logger := m.logger.With("run_id", r.ID, "project_id", p.ID)
	var (
		res outcome
		err error
	)
	func() {
		defer func() {
			if v := recover(); v != nil {
				logger.Error("run panicked", "panic", v)
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		res, err = m.pipeline(ctx, r, p, logger)
	}()

	// The terminal event must be written even when ctx is already cancelled.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Step 5: whatever the run's fate, the files it left become a version
	// before the terminal event, so nothing the agent wrote is lost.
	versionID := m.commitVersion(finishCtx, r, p, u, res.sandboxID, logger)
	var (
		status, projectStatus, code, msg string
		terminalType                     string
		terminal                         any
	)
	if err == nil {
		status, projectStatus = StatusSucceeded, ProjectReady
		terminalType = events.TypeComplete
		terminal = events.Complete{Success: true, SandboxID: res.sandboxID, PreviewURL: res.previewURL, VersionID: versionID, Message: res.message}
	} else {
		code, msg = classify(ctx, err)
		switch code {
		case events.CodeCancelled:
			status, projectStatus = StatusCancelled, ProjectIdle
		case events.CodeInterrupted:
			status, projectStatus = StatusInterrupted, ProjectError
		default:
			status, projectStatus = StatusFailed, ProjectError
		}
		logger.Warn("run failed", "code", code, "err", err)
		terminalType, terminal = events.TypeError, events.Error{Message: msg, Code: code}
	}
	if err := m.store.FinishRun(finishCtx, r.ID, status, code, msg, time.Now().UTC()); err != nil {
		logger.Error("finish run", "err", err)
	}
	if err := m.store.SetProjectStatus(finishCtx, p.ID, projectStatus); err != nil {
		logger.Error("set project status", "err", err)
	}
	m.mu.Lock()
	delete(m.active, r.ID)
	delete(m.byProject, p.ID)
	m.mu.Unlock()
	if _, err := m.log.Append(finishCtx, r.ID, terminalType, terminal); err != nil {
		logger.Error("write terminal event", "type", terminalType, "err", err)
	}
	if err == nil && m.cfg.AfterSuccess != nil {
		// Bounded by the manager's context, so shutdown does not wait on it.
		afterCtx, cancelAfter := context.WithTimeout(m.ctx, time.Minute)
		defer cancelAfter()
		if err := m.cfg.AfterSuccess(afterCtx, p, res.sandboxID, versionID); err != nil {
			logger.Warn("after successful run", "err", err)
		}
	}
}

// classify turns a run's error into a code and a message safe to show.
func classify(ctx context.Context, err error) (code, msg string) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCancelled):
		return events.CodeCancelled, "The run was cancelled. Files written so far are kept."
	case errors.Is(cause, ErrShutdown):
		return events.CodeInterrupted, "The server shut down during this run. Your files are kept; send the prompt again to continue."
	case errors.Is(cause, errRunTimeout):
		return events.CodeTimeout, "The run took longer than the server allows (QV_RUN_TIMEOUT) and was stopped."
	}
	if se, ok := errors.AsType[*stepError](err); ok {
		return se.code, se.msg
	}
	return events.CodeInternal, "Something went wrong on the server during this run. The details are in the server log."
}
