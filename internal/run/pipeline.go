package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
)

// devServerName is the background process that serves the preview.
const devServerName = "devserver"

type outcome struct {
	sandboxID  string
	previewURL string
	message    string
}

// emitter appends events of one run and remembers the first failure, so a
// run whose events cannot be stored stops instead of going on unseen.
type emitter struct {
	log   *events.Log
	runID string

	mu  sync.Mutex
	err error
}

func (e *emitter) emit(ctx context.Context, typ string, data any) {
	if _, err := e.log.Append(ctx, e.runID, typ, data); err != nil {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
}

func (e *emitter) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *emitter) progress(ctx context.Context, p events.Progress) {
	e.emit(ctx, events.TypeProgress, p)
}

func (m *Manager) pipeline(ctx context.Context, r store.Run, p store.Project, logger *slog.Logger) (outcome, error) {
	em := &emitter{log: m.log, runID: r.ID}
	em.emit(ctx, events.TypeMessage, events.Message{Type: "user", Content: r.Prompt})

	pt, ok := project.Lookup(p.Type)
	if !ok {
		return outcome{}, fail(events.CodeInternal, fmt.Sprintf("Unknown project type %q.", p.Type), nil)
	}
	if m.agent == nil {
		return outcome{}, fail(events.CodeNoModel, "No model is configured on this server: set ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL and QV_MODEL), or QV_MODEL_PROVIDER=openai with OPENAI_BASE_URL and QV_MODEL, and restart it.", nil)
	}

	sandboxID, err := m.ensureSandbox(ctx, em, p, logger)
	if err == nil && m.cfg.EgressRefusals != nil {
		stop := m.cfg.EgressRefusals(sandboxID, func(line string) {
			em.emit(ctx, events.TypeLog, events.LogLine{Stream: "egress", Line: line})
		})
		defer stop()
	}
	if err != nil {
		return outcome{sandboxID: sandboxID}, err
	}
	if err := em.failed(); err != nil {
		return outcome{sandboxID: sandboxID}, err
	}

	// The agent writes, the dev server starts, and errors go back to the
	// agent up to the fix cap (build.go).
	res, err := m.build(ctx, em, r, p, pt, sandboxID, logger)
	if err != nil {
		return outcome{sandboxID: sandboxID}, err
	}
	previewURL := m.cfg.PreviewURL(sandboxID, pt.Port)
	em.progress(ctx, events.Progress{Status: events.StatusPreview, Message: "The preview is live", SandboxID: sandboxID, PreviewURL: previewURL})
	em.progress(ctx, events.Progress{Status: events.StatusComplete, Message: "Done", SandboxID: sandboxID, PreviewURL: previewURL})
	if err := em.failed(); err != nil {
		return outcome{sandboxID: sandboxID}, err
	}
	return outcome{sandboxID: sandboxID, previewURL: previewURL, message: summary(res)}, nil
}

func summary(res agent.Result) string {
	switch n := len(res.FilesChanged); n {
	case 0:
		return "No files changed."
	case 1:
		return "Changed " + res.FilesChanged[0] + "."
	default:
		return fmt.Sprintf("Changed %d files.", n)
	}
}

// userMessager is an error that carries a message fit for users.
type userMessager interface {
	error
	UserMessage() string
}

// agentFailure explains a failed agent loop to the user.
func agentFailure(err error) error {
	if errors.Is(err, llm.ErrNotConfigured) {
		return fail(events.CodeNoModel, "No model is configured on this server: set ANTHROPIC_API_KEY and restart it.", err)
	}
	var um userMessager
	if errors.As(err, &um) {
		return fail(events.CodeModel, um.UserMessage(), err)
	}
	return fail(events.CodeModel, "The model call failed: "+err.Error(), err)
}

// ensureSandbox creates the project's sandbox, or resumes the one it has.
func (m *Manager) ensureSandbox(ctx context.Context, em *emitter, p store.Project, logger *slog.Logger) (string, error) {
	if p.SandboxID != "" {
		info, err := m.sandboxes.Get(ctx, p.SandboxID)
		switch {
		case err == nil && info.State == sandbox.StateRunning:
			em.progress(ctx, events.Progress{Status: events.StatusCreating, Message: "Using the running sandbox", SandboxID: info.ID})
			em.progress(ctx, events.Progress{Status: events.StatusInitializing, Message: "Sandbox ready", SandboxID: info.ID})
			return info.ID, nil
		case err == nil:
			em.progress(ctx, events.Progress{Status: events.StatusCreating, Message: "Resuming the sandbox", SandboxID: info.ID})
			if err := m.sandboxes.Start(ctx, info.ID); err != nil {
				return "", fail(events.CodeSandbox, "The sandbox could not be started: "+safeSandboxReason(err), err)
			}
			em.progress(ctx, events.Progress{Status: events.StatusInitializing, Message: "Sandbox ready", SandboxID: info.ID})
			return info.ID, nil
		case errors.Is(err, sandbox.ErrNotFound):
			logger.Warn("project sandbox is gone; creating a new one", "sandbox_id", p.SandboxID)
		default:
			return "", fail(events.CodeSandbox, "The sandbox engine did not answer: "+safeSandboxReason(err), err)
		}
	}
	em.progress(ctx, events.Progress{Status: events.StatusCreating, Message: "Creating a sandbox"})
	info, err := m.sandboxes.Create(ctx, sandbox.Spec{Labels: map[string]string{"project": p.ID, "user": p.UserID}})
	if err != nil {
		return "", fail(events.CodeSandbox, "The sandbox could not be created: "+safeSandboxReason(err), err)
	}
	if err := m.store.SetProjectSandbox(ctx, p.ID, info.ID); err != nil {
		return "", fmt.Errorf("record sandbox of project %s: %w", p.ID, err)
	}
	if m.cfg.Versions != nil {
		// A new sandbox for a project with history (its old sandbox was
		// deleted, or it was imported) starts from the latest version.
		v, err := m.cfg.Versions.Checkout(ctx, p.ID, info.ID)
		switch {
		case err == nil:
			em.progress(ctx, events.Progress{Status: events.StatusInitializing, Message: "Restored the files of the latest version", SandboxID: info.ID})
			logger.Info("filled new sandbox from the latest version", "sandbox_id", info.ID, "version_id", v.ID)
		case errors.Is(err, version.ErrNoVersions):
		default:
			// A half-filled sandbox must never be committed as the latest
			// version: drop it, so the next run starts again from history.
			if derr := m.sandboxes.Delete(context.WithoutCancel(ctx), info.ID); derr != nil {
				logger.Error("delete half-filled sandbox", "sandbox_id", info.ID, "err", derr)
			}
			return "", fail(events.CodeSandbox, "The project's files could not be put into the new sandbox; nothing was lost, try again.", err)
		}
	}
	if err := m.writeStarter(ctx, p, info.ID); err != nil {
		return "", err
	}
	em.progress(ctx, events.Progress{Status: events.StatusInitializing, Message: "Sandbox ready", SandboxID: info.ID})
	return info.ID, nil
}

// commitVersion records the sandbox's files as a version after a run and
// returns its id, or "" when there is nothing to record or it failed; a
// failure is logged but does not fail a run whose files are still in the
// sandbox, and the next run's commit includes them.
func (m *Manager) commitVersion(ctx context.Context, r store.Run, p store.Project, u store.User, sandboxID string, logger *slog.Logger) string {
	if m.cfg.Versions == nil || sandboxID == "" {
		return ""
	}
	v, created, err := m.cfg.Versions.Snapshot(ctx, p.ID, sandboxID, version.Commit{
		Message: r.Prompt, Kind: version.KindRun, RunID: r.ID,
		AuthorEmail: u.Email, Time: time.Now(),
	})
	if err != nil {
		logger.Error("commit the run's files as a version", "sandbox_id", sandboxID, "err", err)
		return ""
	}
	if created {
		logger.Info("committed version", "version_id", v.ID)
	}
	return v.ID
}

// safeSandboxReason keeps the engine's first line but never a host path.
func safeSandboxReason(err error) string {
	var um userMessager
	if errors.As(err, &um) {
		return um.UserMessage()
	}
	return "see the server log for details (run quickvibe doctor)"
}

// startDevServer (re)starts the project's dev server and waits until its
// port answers.
func (m *Manager) startDevServer(ctx context.Context, sandboxID string, pt project.Type) error {
	if err := m.sandboxes.StartProcess(ctx, sandboxID, sandbox.ProcessRequest{Name: devServerName, Command: pt.DevCommand, Restart: true}); err != nil {
		return fail(events.CodeDevServer, "The dev server could not be started.", err)
	}
	// A type whose first start installs dependencies may take longer.
	wait := max(m.cfg.DevServerWait, pt.StartTimeout)
	deadline := time.Now().Add(wait)
	for {
		conn, err := m.sandboxes.DialPort(ctx, sandboxID, pt.Port)
		if err == nil {
			conn.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st, perr := m.sandboxes.Process(ctx, sandboxID, devServerName)
		if perr == nil && !st.Running {
			return fail(events.CodeDevServer, fmt.Sprintf("The dev server exited with code %d before it answered on port %d. Its last output:\n%s",
				st.ExitCode, pt.Port, lastLines(st.OutputTail, 20)), nil)
		}
		if time.Now().After(deadline) {
			return fail(events.CodeDevServer, fmt.Sprintf("The dev server did not answer on port %d within %s.", pt.Port, wait), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// observer turns the agent's activity into events.
type observer struct {
	ctx     context.Context
	em      *emitter
	writing bool
	// acct, when set, is the run's spending, sent with every usage event.
	acct *account
}

var _ agent.Observer = (*observer)(nil)

func (o *observer) TextDelta(text string) {
	o.em.emit(o.ctx, events.TypeMessage, events.Message{Type: "assistant", Content: text, Delta: true})
}

func (o *observer) AssistantText(text string) {
	o.em.emit(o.ctx, events.TypeMessage, events.Message{Type: "assistant", Content: text})
}

func (o *observer) ToolStarted(id, name string) {
	if !o.writing && (name == "write_file" || name == "edit_file") {
		o.writing = true
		o.em.progress(o.ctx, events.Progress{Status: events.StatusWriting, Message: "Writing files"})
	}
}

func (o *observer) ToolFinished(t agent.ToolEvent) {
	ev := events.Tool{
		ID: t.ID, Action: t.Action, Tool: t.Name, File: t.File,
		LinesAdded: t.LinesAdded, LinesRemoved: t.LinesRemoved,
		Command: t.Command, Output: t.Output, Error: t.Error,
	}
	if t.Name == "run_command" {
		ev.ExitCode = &t.ExitCode
	}
	o.em.emit(o.ctx, events.TypeTool, ev)
}

func (o *observer) Usage(u llm.Usage) {
	if o.acct != nil {
		// The run's totals across fix attempts, with cost.
		o.em.emit(o.ctx, events.TypeUsage, o.acct.event())
		return
	}
	o.em.emit(o.ctx, events.TypeUsage, events.Usage{
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationInputTokens: u.CacheCreationInputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
	})
}
