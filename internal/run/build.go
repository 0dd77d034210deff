package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/store"
)

// DefaultMaxFixAttempts bounds the rounds of fixing per prompt.
const DefaultMaxFixAttempts = 3

// build runs the agent on the prompt, then starts the dev server and checks
// the app; errors go back to the agent as a fix prompt, up to the fix cap.
// The conversation and every model call's usage are stored as they happen.
func (m *Manager) build(ctx context.Context, em *emitter, r store.Run, p store.Project, pt project.Type, sandboxID string, logger *slog.Logger) (agent.Result, error) {
	history, err := m.history(ctx, p.ID)
	if err != nil {
		return agent.Result{}, err
	}
	acct, err := m.newAccount(ctx, r, p)
	if err != nil {
		return agent.Result{}, err
	}
	obs := &observer{ctx: ctx, em: em, acct: acct}
	ws := agent.SandboxWorkspace(m.sandboxes, sandboxID)

	var all agent.Result
	prompt := r.Prompt
	if errs := m.browserErrorsSinceCheck(sandboxID); len(errs) > 0 {
		// The user saw these in the preview since the last check; the
		// model should know before it changes anything.
		prompt += "\n\n<browser_errors>\nThe preview page reported these errors in the browser since your last change:\n" +
			strings.Join(errs, "\n") + "\n</browser_errors>"
	}
	for attempt := 0; ; attempt++ {
		acct.kind = store.UsageFeature
		if attempt > 0 {
			acct.kind = store.UsageFix
			em.progress(ctx, events.Progress{Status: events.StatusGenerating,
				Message: fmt.Sprintf("The agent is fixing errors (attempt %d of %d)", attempt, m.cfg.MaxFixAttempts), SandboxID: sandboxID})
		} else {
			em.progress(ctx, events.Progress{Status: events.StatusGenerating, Message: "The agent is working", SandboxID: sandboxID})
		}
		res, err := m.agent.Prompt(ctx, ws, agent.Request{
			ProjectType: p.Type, History: history, Prompt: prompt, Model: p.Model,
			Budget: acct.check, Spent: acct.spent,
		}, obs)
		all.FilesChanged = mergeSorted(all.FilesChanged, res.FilesChanged)
		// Keep what was said even when the run failed, so the next prompt
		// knows what was tried.
		if serr := m.saveConversation(ctx, p.ID, r.ID, res.Messages); serr != nil {
			logger.Error("store the conversation", "err", serr)
		}
		history = append(history, res.Messages...)
		if err != nil {
			if ctx.Err() != nil {
				return all, ctx.Err()
			}
			if be, ok := errors.AsType[*budgetError](err); ok {
				return all, fail(events.CodeBudget, be.msg, err)
			}
			return all, agentFailure(err)
		}
		if err := em.failed(); err != nil {
			return all, err
		}

		em.progress(ctx, events.Progress{Status: events.StatusStarting, Message: "Starting the dev server", SandboxID: sandboxID})
		problems, err := m.checkApp(ctx, em, sandboxID, pt, logger)
		if err != nil {
			return all, err
		}
		if len(problems) == 0 {
			return all, nil
		}
		report := strings.Join(problems, "\n\n")
		logger.Info("app check found errors", "attempt", attempt, "problems", len(problems))
		em.emit(ctx, events.TypeLog, events.LogLine{Stream: "system", Line: "The app has errors:\n" + report})
		if len(res.FilesChanged) == 0 {
			// Nothing the agent did this round caused or fixed them; asking
			// again would only spend money.
			return all, fail(events.CodeDevServer, "The app has errors and the agent changed no files:\n"+lastLines(report, 20), nil)
		}
		if m.cfg.MaxFixAttempts == 0 {
			return all, fail(events.CodeDevServer, lastLines(report, 20), nil)
		}
		if attempt >= m.cfg.MaxFixAttempts {
			return all, fail(events.CodeFixLimit, fmt.Sprintf(
				"The app still has errors after %d fix attempts, so the run stopped (QV_MAX_FIX_ATTEMPTS=%d). Your files are kept; describe the problem in a new prompt to try again. The last errors:\n%s",
				attempt, m.cfg.MaxFixAttempts, lastLines(report, 20)), nil)
		}
		prompt = "The app has errors after your changes. Find the cause and fix it with small edits; do not rewrite working files.\n\n<errors>\n" + report + "\n</errors>"
	}
}

// browserErrorsSinceCheck returns the browser errors the preview reported
// for sandboxID since the last check of the app, and marks them seen.
func (m *Manager) browserErrorsSinceCheck(sandboxID string) []string {
	if m.cfg.BrowserErrors == nil {
		return nil
	}
	now := time.Now()
	m.mu.Lock()
	since := m.checked[sandboxID]
	if m.checked == nil {
		m.checked = map[string]time.Time{}
	}
	m.checked[sandboxID] = now
	m.mu.Unlock()
	return m.cfg.BrowserErrors(sandboxID, since)
}

// history loads a project's conversation. A run that stopped after tool
// results ends on a user message; a short assistant note keeps the turns
// alternating for the next prompt.
func (m *Manager) history(ctx context.Context, projectID string) ([]llm.Message, error) {
	rows, err := m.store.Conversation(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("load conversation: %w", err)
	}
	msgs := make([]llm.Message, 0, len(rows)+1)
	for _, row := range rows {
		var blocks []llm.Block
		if err := json.Unmarshal(row.Content, &blocks); err != nil {
			return nil, fmt.Errorf("load conversation: message %d: %w", row.Seq, err)
		}
		msgs = append(msgs, llm.Message{Role: llm.Role(row.Role), Content: blocks})
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == llm.RoleUser {
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "(The previous run stopped here.)"}}})
	}
	return msgs, nil
}

func (m *Manager) saveConversation(ctx context.Context, projectID, runID string, msgs []llm.Message) error {
	rows := make([]store.ConversationMessage, 0, len(msgs))
	for _, msg := range msgs {
		content, err := json.Marshal(msg.Content)
		if err != nil {
			return err
		}
		rows = append(rows, store.ConversationMessage{Role: string(msg.Role), Content: content})
	}
	// Stored even when the run was cancelled: the turns happened.
	return m.store.AppendConversation(context.WithoutCancel(ctx), projectID, runID, rows)
}

func mergeSorted(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// budgetError is a refusal of a model call by the budget.
type budgetError struct{ msg string }

func (e *budgetError) Error() string       { return "budget: " + e.msg }
func (e *budgetError) UserMessage() string { return e.msg }

// account counts one run's spending and enforces the caps.
type account struct {
	m       *Manager
	r       store.Run
	p       store.Project
	ctx     context.Context
	kind    string
	month   float64 // the user's spending this month before the run
	cost    float64
	fixCost float64
	last    float64 // cost of the latest call, the estimate of the next
	usage   llm.Usage
	model   string
}

func (m *Manager) newAccount(ctx context.Context, r store.Run, p store.Project) (*account, error) {
	a := &account{m: m, r: r, p: p, ctx: ctx, kind: store.UsageFeature}
	if m.cfg.MaxUserMonthlyCostUSD > 0 {
		now := time.Now().UTC()
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		micros, err := m.store.UserCostSince(ctx, r.UserID, start)
		if err != nil {
			return nil, fmt.Errorf("read this month's spending: %w", err)
		}
		a.month = float64(micros) / 1e6
	}
	return a, nil
}

// check refuses a call that would pass a cap: the next call is expected to
// cost what the last one did.
func (a *account) check(_ context.Context, model string) error {
	cfg := a.m.cfg
	next := a.cost + a.last
	if cfg.MaxRunCostUSD > 0 && (a.cost >= cfg.MaxRunCostUSD || next > cfg.MaxRunCostUSD) {
		return &budgetError{msg: fmt.Sprintf("This run has spent $%.4f on the model and the next call would pass the per-run limit of $%.2f (QV_MAX_RUN_COST_USD), so it was not made. Your files are kept; send a new prompt to continue.", a.cost, cfg.MaxRunCostUSD)}
	}
	if cfg.MaxUserMonthlyCostUSD > 0 && (a.month+a.cost >= cfg.MaxUserMonthlyCostUSD || a.month+next > cfg.MaxUserMonthlyCostUSD) {
		return &budgetError{msg: fmt.Sprintf("You have spent $%.2f on the model this month; the next call would pass your monthly limit of $%.2f (QV_MAX_USER_MONTHLY_COST_USD). Ask the administrator to raise it, or wait until next month.", a.month+a.cost, cfg.MaxUserMonthlyCostUSD)}
	}
	return nil
}

// spent records one call's usage and cost.
func (a *account) spent(model string, u llm.Usage) {
	c := a.m.cfg.Prices.Cost(model, u)
	a.cost += c
	a.last = c
	if a.kind == store.UsageFix {
		a.fixCost += c
	}
	a.model = model
	a.usage = llm.Usage{
		InputTokens:              a.usage.InputTokens + u.InputTokens,
		OutputTokens:             a.usage.OutputTokens + u.OutputTokens,
		CacheCreationInputTokens: a.usage.CacheCreationInputTokens + u.CacheCreationInputTokens,
		CacheReadInputTokens:     a.usage.CacheReadInputTokens + u.CacheReadInputTokens,
	}
	err := a.m.store.AddModelUsage(context.WithoutCancel(a.ctx), store.ModelUsage{
		RunID: a.r.ID, ProjectID: a.p.ID, UserID: a.r.UserID, Model: model, Kind: a.kind,
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationTokens: u.CacheCreationInputTokens, CacheReadTokens: u.CacheReadInputTokens,
		CostMicros: int64(c*1e6 + 0.5), CreatedAt: time.Now(),
	})
	if err != nil {
		a.m.logger.Error("record model usage", "run_id", a.r.ID, "err", err)
	}
}

func (a *account) event() events.Usage {
	return events.Usage{
		InputTokens: a.usage.InputTokens, OutputTokens: a.usage.OutputTokens,
		CacheCreationInputTokens: a.usage.CacheCreationInputTokens, CacheReadInputTokens: a.usage.CacheReadInputTokens,
		CostUSD: a.cost, FixCostUSD: a.fixCost, Model: a.model,
	}
}

// ContextFiles reports the files sent with the prompt.
func (o *observer) ContextFiles(paths []string) {
	o.em.emit(o.ctx, events.TypeContext, events.Context{Files: paths})
}

// Compacted reports that old turns were shrunk to fit the context.
func (o *observer) Compacted(c agent.Compaction) {
	o.em.emit(o.ctx, events.TypeContext, events.Context{Compacted: true, TokensBefore: c.Before, TokensAfter: c.After, DroppedMsgs: c.Dropped, ElidedBlocks: c.Elided})
}

// Retrying tells the user that a model call failed and is tried again.
func (o *observer) Retrying(attempt int, delay time.Duration, err error) {
	what := "the model call failed"
	if um, ok := errors.AsType[userMessager](err); ok {
		what = um.UserMessage()
	}
	o.em.emit(o.ctx, events.TypeLog, events.LogLine{Stream: "system",
		Line: fmt.Sprintf("%s; trying again in %s (attempt %d)", what, delay.Round(time.Millisecond), attempt+1)})
}

var (
	_ agent.ContextObserver = (*observer)(nil)
	_ agent.RetryObserver   = (*observer)(nil)
)
