// Package agent runs the loop that builds an app: it calls the model, runs
// the tools the model asks for in the project's workspace, sends the results
// back, and repeats until the model is done.
package agent

import (
	"context"
	"fmt"
	"slices"
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
// prompt of projectType, and loops until the model ends its turn. Tool
// failures go back to the model; a model or stream error, a stopped sandbox,
// cancellation of ctx or the turn limit end the run with an error, and Result
// then holds what was done so far. obs may be nil.
func (a *Agent) Run(ctx context.Context, ws Workspace, projectType string, history []llm.Message, prompt string, obs Observer) (Result, error) {
	if obs == nil {
		obs = NopObserver{}
	}
	system, err := systemPrompt(projectType)
	if err != nil {
		return Result{}, err
	}
	files, err := ws.ListFiles(ctx, "")
	if err != nil {
		return Result{}, fmt.Errorf("agent: list workspace: %w", err)
	}
	first := llm.Message{Role: llm.RoleUser, Content: []llm.Block{
		{Type: llm.BlockText, Text: treeText(files)},
		{Type: llm.BlockText, Text: prompt},
	}}

	r := &runState{
		ex:       &executor{ws: ws, opts: a.opts, changed: map[string]bool{}},
		obs:      obs,
		messages: []llm.Message{first},
	}
	err = a.loop(ctx, system, history, r)
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

func (a *Agent) loop(ctx context.Context, system string, history []llm.Message, r *runState) error {
	for turn := 1; ; turn++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		req := llm.Request{
			System:   system,
			Messages: slices.Concat(history, r.messages),
			Tools:    a.tools,
		}
		resp, err := a.model.Stream(ctx, req, streamHandler{obs: r.obs})
		if err != nil {
			return fmt.Errorf("agent: model call %d: %w", turn, err)
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
