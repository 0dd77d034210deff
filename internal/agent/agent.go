// Package agent runs the loop that builds an app: it calls the model, runs
// the tools the model asks for in the project's workspace, sends the results
// back, and repeats until the model is done.
package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// Errors a run can end with besides model and workspace errors. Each has a
// UserMessage method with words fit for the person who sent the prompt.
var (
	// ErrMaxTurns means the model still wanted tools after Options.MaxTurns calls.
	ErrMaxTurns error = &userError{
		msg:  "agent: model turn limit reached",
		user: "the agent reached its limit of steps before finishing; send another prompt to let it continue",
	}
	// ErrUnknownProjectType means Run has no prompt for the project type.
	ErrUnknownProjectType error = &userError{
		msg:  "agent: unknown project type",
		user: "the agent does not know how to build this kind of project",
	}
	// ErrRefused means the model declined the request (stop reason refusal).
	ErrRefused error = &userError{
		msg:  "agent: the model declined the request",
		user: "the model declined this request",
	}
)

// userError is a sentinel error that also carries a message for users.
type userError struct{ msg, user string }

func (e *userError) Error() string       { return e.msg }
func (e *userError) UserMessage() string { return e.user }

// Defaults of Options.
const (
	DefaultMaxTurns       = 25
	DefaultCommandTimeout = 2 * time.Minute
	// MaxCommandTimeout caps what the model may ask for in timeout_seconds.
	MaxCommandTimeout = 10 * time.Minute
)

// Options tune an Agent; zero values take the defaults.
type Options struct {
	// MaxTurns bounds the model calls of one Run.
	MaxTurns int
	// CommandTimeout applies to run_command when the model gives no
	// timeout_seconds.
	CommandTimeout time.Duration
	// ContextTokens is the context size each request is kept under, by
	// eliding old tool output and dropping old prompts.
	ContextTokens int
}

// DefaultContextTokens leaves room below a 200k window for the answer.
const DefaultContextTokens = 150_000

// Request is one prompt for Prompt.
type Request struct {
	ProjectType string
	// History is the project's conversation before this prompt.
	History []llm.Message
	Prompt  string
	// Model overrides the model's default id; empty keeps it.
	Model string
	// Budget, if set, is asked before every model call; its error refuses
	// the call and ends the run with that error.
	Budget func(ctx context.Context, model string) error
	// Spent, if set, learns the usage of every model call.
	Spent func(model string, u llm.Usage)
}

// Agent runs prompts against a model. It holds no per-run state, so one Agent
// serves any number of concurrent runs.
type Agent struct {
	model llm.Model
	opts  Options
	tools []llm.Tool
}

// New makes an Agent that calls model.
func New(model llm.Model, opts Options) *Agent {
	if opts.MaxTurns <= 0 {
		opts.MaxTurns = DefaultMaxTurns
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.ContextTokens <= 0 {
		opts.ContextTokens = DefaultContextTokens
	}
	return &Agent{model: model, opts: opts, tools: toolDefs(opts.CommandTimeout)}
}

// Result is what a run produced.
type Result struct {
	// Messages are this run's turns to keep as conversation: the prompt (with
	// the file tree), then assistant messages and tool results. Every tool_use
	// in them is answered by a tool_result, also when the run failed.
	Messages []llm.Message
	// Usage sums the usage of every model call.
	Usage llm.Usage
	// FilesChanged lists the paths written, edited or deleted, sorted.
	FilesChanged []string
}

// Run sends prompt, after history, to the model with the tools and the system
// prompt of projectType, and loops until the model ends its turn. It is
// Prompt with only those fields set.
func (a *Agent) Run(ctx context.Context, ws Workspace, projectType string, history []llm.Message, prompt string, obs Observer) (Result, error) {
	return a.Prompt(ctx, ws, Request{ProjectType: projectType, History: history, Prompt: prompt}, obs)
}

// Prompt runs one prompt. The first message holds the file tree and the
// current content of the files that matter. Tool failures go back to the
// model; a model or stream error, a refused budget, a stopped sandbox,
// cancellation of ctx or the turn limit end the run with an error, and
// Result then holds what was done so far. obs may be nil.
func (a *Agent) Prompt(ctx context.Context, ws Workspace, req Request, obs Observer) (Result, error) {
	if obs == nil {
		obs = NopObserver{}
	}
	system, err := systemPrompt(req.ProjectType)
	if err != nil {
		return Result{}, err
	}
	files, err := ws.ListFiles(ctx, "")
	if err != nil {
		return Result{}, fmt.Errorf("agent: list workspace: %w", err)
	}
	first := llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: treeText(files)}}}
	if len(req.History) > 0 {
		// A follow-up: show what the files hold now, so edits by hand are
		// seen and edit_file can quote them exactly.
		text, picked, err := contextFiles(ctx, ws, files, req.Prompt, a.opts.ContextTokens*4/contextShare)
		if err != nil {
			return Result{}, fmt.Errorf("agent: read context files: %w", err)
		}
		if text != "" {
			first.Content = append(first.Content, llm.Block{Type: llm.BlockText, Text: text})
		}
		if co, ok := obs.(ContextObserver); ok {
			co.ContextFiles(picked)
		}
	}
	first.Content = append(first.Content, llm.Block{Type: llm.BlockText, Text: req.Prompt})

	r := &runState{
		ex:       &executor{ws: ws, opts: a.opts, changed: map[string]bool{}},
		obs:      obs,
		messages: []llm.Message{first},
	}
	err = a.loop(ctx, system, req, r)
	return r.result(), err
}

// runState is the state of one Run.
type runState struct {
	ex       *executor
	obs      Observer
	messages []llm.Message // this run's turns
	usage    llm.Usage
}

func (r *runState) result() Result {
	changed := make([]string, 0, len(r.ex.changed))
	for p := range r.ex.changed {
		changed = append(changed, p)
	}
	slices.Sort(changed)
	if len(changed) == 0 {
		changed = nil
	}
	return Result{Messages: r.messages, Usage: r.usage, FilesChanged: changed}
}

func (a *Agent) loop(ctx context.Context, system string, in Request, r *runState) error {
	model := in.Model
	if model == "" {
		model = a.model.Name()
	}
	overhead := (len(system) + toolsSize(a.tools)) / 4
	for turn := 1; ; turn++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if in.Budget != nil {
			if err := in.Budget(ctx, model); err != nil {
				return fmt.Errorf("agent: before model call %d: %w", turn, err)
			}
		}
		resp, err := a.call(ctx, system, in, r, overhead)
		if err != nil {
			return fmt.Errorf("agent: model call %d: %w", turn, err)
		}
		if in.Spent != nil {
			in.Spent(model, resp.Usage)
		}
		var uses []llm.Block
		for _, b := range resp.Message.Content {
			switch b.Type {
			case llm.BlockText:
				if b.Text != "" {
					r.obs.AssistantText(b.Text)
				}
			case llm.BlockToolUse:
				uses = append(uses, b)
			}
		}
		r.usage = addUsage(r.usage, resp.Usage)
		r.obs.Usage(r.usage)
		// An empty assistant message would make the next request invalid.
		if len(resp.Message.Content) > 0 {
			r.messages = append(r.messages, resp.Message)
		}
		if len(uses) == 0 {
			if resp.StopReason == llm.StopRefusal {
				return ErrRefused
			}
			return nil
		}

		content := resp.Message.Content
		cutOff := resp.StopReason == llm.StopMaxTokens && content[len(content)-1].Type == llm.BlockToolUse
		results, err := r.runTools(ctx, uses, cutOff)
		r.messages = append(r.messages, llm.Message{Role: llm.RoleUser, Content: results})
		if err != nil {
			return err
		}
		if turn >= a.opts.MaxTurns {
			return fmt.Errorf("%w: the model still wanted tools after %d calls (MaxTurns)", ErrMaxTurns, a.opts.MaxTurns)
		}
	}
}

// runTools runs the tool calls in order and returns one tool_result each. A
// fatal error (cancellation, stopped sandbox) stops it; the calls not run
// still get a result so the conversation stays valid. cutOff says the last
// call was cut short by max_tokens.
func (r *runState) runTools(ctx context.Context, uses []llm.Block, cutOff bool) ([]llm.Block, error) {
	results := make([]llm.Block, 0, len(uses))
	var fatal error
	for i, use := range uses {
		if err := ctx.Err(); fatal == nil && err != nil {
			fatal = fmt.Errorf("agent: %w", err)
		}
		if fatal != nil {
			results = append(results, llm.Block{Type: llm.BlockToolResult, ToolUseID: use.ToolUseID, IsError: true,
				Text: "not run: the run was stopped"})
			continue
		}
		var (
			ev  ToolEvent
			res llm.Block
		)
		if cutOff && i == len(uses)-1 {
			// The output limit cut this call short, so its input is incomplete.
			ev = ToolEvent{ID: use.ToolUseID, Name: use.Name,
				Error: "this call was cut off by the output token limit (max_tokens), so its input is incomplete; write large files in several smaller parts or make smaller edits"}
			res = llm.Block{Type: llm.BlockToolResult, ToolUseID: use.ToolUseID, Text: ev.Error, IsError: true}
		} else {
			ev, res, fatal = r.ex.run(ctx, use)
			if fatal != nil {
				fatal = fmt.Errorf("agent: %s: %w", use.Name, fatal)
				ev.Error = "not finished: the run was stopped"
				res = llm.Block{Type: llm.BlockToolResult, ToolUseID: use.ToolUseID, Text: ev.Error, IsError: true}
			}
		}
		results = append(results, res)
		r.obs.ToolFinished(ev)
	}
	return results, fatal
}

func addUsage(a, b llm.Usage) llm.Usage {
	return llm.Usage{
		InputTokens:              a.InputTokens + b.InputTokens,
		OutputTokens:             a.OutputTokens + b.OutputTokens,
		CacheCreationInputTokens: a.CacheCreationInputTokens + b.CacheCreationInputTokens,
		CacheReadInputTokens:     a.CacheReadInputTokens + b.CacheReadInputTokens,
	}
}

func toolsSize(tools []llm.Tool) int {
	n := 0
	for _, t := range tools {
		n += len(t.Name) + len(t.Description) + len(t.Schema)
	}
	return n
}

// maxShrinks bounds how often one call is sent again, smaller, after the
// API said the prompt was too long for the model.
const maxShrinks = 2

// call compacts the conversation to fit the context and sends it. When the
// API still finds it too long (token estimates are rough, and models'
// windows differ), it halves the limit and tries again.
func (a *Agent) call(ctx context.Context, system string, in Request, r *runState, overhead int) (llm.Response, error) {
	limit := a.opts.ContextTokens - overhead
	for shrinks := 0; ; shrinks++ {
		msgs, c := compact(slices.Concat(in.History, r.messages), limit)
		if c.Elided > 0 || c.Dropped > 0 {
			if co, ok := r.obs.(ContextObserver); ok {
				co.Compacted(Compaction{Before: c.Before + overhead, After: c.After + overhead, Elided: c.Elided, Dropped: c.Dropped})
			}
		}
		req := llm.Request{Model: in.Model, System: system, Messages: msgs, Tools: a.tools}
		resp, err := a.model.Stream(ctx, req, streamHandler{obs: r.obs})
		if err == nil || shrinks >= maxShrinks || !tooLong(err) {
			return resp, err
		}
		limit = min(limit, c.After) / 2
	}
}

// tooLong reports whether err is the API refusing a prompt longer than the
// model's context window (Anthropic: "prompt is too long"; OpenAI-compatible
// servers: "maximum context length", "context_length_exceeded").
func tooLong(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "prompt is too long") || strings.Contains(s, "context length") ||
		strings.Contains(s, "context_length_exceeded") || strings.Contains(s, "context window")
}
