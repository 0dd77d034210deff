package agent

import (
	"time"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// Tool actions, as the event taxonomy names them.
const (
	ActionCreate = "create"
	ActionEdit   = "edit"
	ActionRead   = "read"
	ActionList   = "list"
	ActionRun    = "run"
	ActionDelete = "delete"
)

// ToolEvent describes one finished tool call.
type ToolEvent struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Action is one of the Action constants; empty when the call was refused
	// before it could act (unknown tool, bad input).
	Action       string `json:"action,omitempty"`
	File         string `json:"file,omitempty"`
	LinesAdded   int    `json:"linesAdded,omitempty"`
	LinesRemoved int    `json:"linesRemoved,omitempty"`
	Command      string `json:"command,omitempty"`
	ExitCode     int    `json:"exitCode,omitempty"`
	// Output is an excerpt of a command's output, at most about 2 KiB.
	Output string `json:"output,omitempty"`
	// Error is what the model was told went wrong; empty on success.
	Error string `json:"error,omitempty"`
}

// Observer turns agent activity into events. Run calls it from its own
// goroutine, one call at a time; calls must not block for long because the
// model stream waits on them.
type Observer interface {
	// TextDelta is a piece of assistant text as it streams.
	TextDelta(text string)
	// AssistantText is one complete text block, after its deltas.
	AssistantText(text string)
	// ToolStarted says the model began a tool call (its input is still
	// streaming). A call whose stream then fails gets no ToolFinished.
	ToolStarted(id, name string)
	// ToolFinished reports a tool call after it ran.
	ToolFinished(ev ToolEvent)
	// Usage is the token usage of this run so far, after every model call.
	Usage(u llm.Usage)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) TextDelta(string)           {}
func (NopObserver) AssistantText(string)       {}
func (NopObserver) ToolStarted(string, string) {}
func (NopObserver) ToolFinished(ToolEvent)     {}
func (NopObserver) Usage(llm.Usage)            {}

var _ Observer = NopObserver{}

// streamHandler forwards the model's stream to the observer.
type streamHandler struct{ obs Observer }

func (h streamHandler) TextDelta(text string)        { h.obs.TextDelta(text) }
func (h streamHandler) ToolUseStart(id, name string) { h.obs.ToolStarted(id, name) }

// RetryObserver is an optional part of an Observer: it learns that a model
// call failed and is tried again after delay; text streamed by the failed
// try is void.
type RetryObserver interface {
	Retrying(attempt int, delay time.Duration, err error)
}

// Retrying forwards llm.WithRetry's notice.
func (h streamHandler) Retrying(attempt int, delay time.Duration, err error) {
	if ro, ok := h.obs.(RetryObserver); ok {
		ro.Retrying(attempt, delay, err)
	}
}
