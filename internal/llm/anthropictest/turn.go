package anthropictest

import "time"

// Default token counts of a turn that sets no Usage, so usage assertions
// have something to sum.
const (
	DefaultInputTokens  = 100
	DefaultOutputTokens = 20
)

// Block is one content block of a scripted assistant message.
type Block struct {
	// Type is "text" or "tool_use".
	Type string
	Text string
	// ID of a tool use; the server assigns "toolu_NN" when it is empty.
	ID   string
	Name string
	// Input is the tool input exactly as streamed. It is usually a JSON object
	// but may be anything, to test how clients cope with bad input.
	Input []byte
}

// Text is a text block.
func Text(s string) Block { return Block{Type: "text", Text: s} }

// ToolUse is a tool call whose input is input marshalled to JSON as the API
// writes it (no HTML escaping). It panics if input cannot be marshalled, which
// is a bug in the test.
func ToolUse(name string, input any) Block {
	return Block{Type: "tool_use", Name: name, Input: mustJSON(input)}
}

// RawToolUse is a tool call streaming input verbatim, valid JSON or not.
func RawToolUse(name, input string) Block {
	return Block{Type: "tool_use", Name: name, Input: []byte(input)}
}

// WithID gives a tool use a fixed id, so tests can look for it.
func (b Block) WithID(id string) Block {
	b.ID = id
	return b
}

// Tool calls of QuickVibe's agent, by the names and inputs it defines.

// WriteFile calls write_file.
func WriteFile(path, content string) Block {
	return ToolUse("write_file", map[string]string{"path": path, "content": content})
}

// EditFile calls edit_file.
func EditFile(path, oldString, newString string) Block {
	return ToolUse("edit_file", map[string]string{"path": path, "old_string": oldString, "new_string": newString})
}

// ReadFile calls read_file.
func ReadFile(path string) Block {
	return ToolUse("read_file", map[string]string{"path": path})
}

// ListFiles calls list_files; an empty path lists the workspace root.
func ListFiles(path string) Block {
	if path == "" {
		return ToolUse("list_files", map[string]string{})
	}
	return ToolUse("list_files", map[string]string{"path": path})
}

// RunCommand calls run_command; a zero timeout leaves timeout_seconds out.
func RunCommand(command string, timeoutSeconds int) Block {
	in := map[string]any{"command": command}
	if timeoutSeconds > 0 {
		in["timeout_seconds"] = timeoutSeconds
	}
	return ToolUse("run_command", in)
}

// DeleteFile calls delete_file.
func DeleteFile(path string) Block {
	return ToolUse("delete_file", map[string]string{"path": path})
}

// Usage is the token usage a turn reports.
type Usage struct {
	InputTokens              int64
	OutputTokens             int64
	CacheCreationInputTokens int64
	CacheReadInputTokens     int64
}

type faultKind int

const (
	faultNone faultKind = iota
	faultHTTP
	faultStreamError
	faultCut
	faultEnd
)

type fault struct {
	kind faultKind
	// after is how many frames are written before a stream fault.
	after         int
	status        int
	errType       string
	message       string
	retryAfter    time.Duration
	hasRetryAfter bool
}

// Turn is the server's answer to one request: an assistant message, or a
// fault.
type Turn struct {
	Blocks []Block
	// StopReason defaults to "tool_use" when Blocks has a tool use and to
	// "end_turn" otherwise.
	StopReason string
	// Usage defaults to DefaultInputTokens and DefaultOutputTokens when zero.
	Usage Usage

	fault fault
}

// Reply is an assistant message made of blocks.
func Reply(blocks ...Block) Turn { return Turn{Blocks: blocks} }

// WithStopReason sets the stop reason.
func (t Turn) WithStopReason(reason string) Turn {
	t.StopReason = reason
	return t
}

// WithUsage sets the reported usage.
func (t Turn) WithUsage(u Usage) Turn {
	t.Usage = u
	return t
}

// CutAfter drops the connection after the first n frames of the stream,
// without the terminating chunk, as a broken network would.
func (t Turn) CutAfter(frames int) Turn {
	t.fault = fault{kind: faultCut, after: frames}
	return t
}

// EndAfter ends the response cleanly after the first n frames, so the stream
// is well-formed HTTP but lacks message_stop.
func (t Turn) EndAfter(frames int) Turn {
	t.fault = fault{kind: faultEnd, after: frames}
	return t
}

// StreamErrorAfter sends an SSE error event after the first n frames of the
// stream, as the API does when it fails after answering 200.
func (t Turn) StreamErrorAfter(frames int, errType, message string) Turn {
	t.fault = fault{kind: faultStreamError, after: frames, errType: errType, message: message}
	return t
}

// StreamError answers 200, sends message_start and then an SSE error event,
// e.g. StreamError("overloaded_error", "Overloaded").
func StreamError(errType, message string) Turn {
	return Turn{}.StreamErrorAfter(1, errType, message)
}

// HTTPError answers status with the API's JSON error body, e.g.
// HTTPError(529, "overloaded_error", "Overloaded").
func HTTPError(status int, errType, message string) Turn {
	return Turn{fault: fault{kind: faultHTTP, status: status, errType: errType, message: message}}
}

// WithRetryAfter adds a retry-after header (in seconds) to an HTTPError.
func (t Turn) WithRetryAfter(d time.Duration) Turn {
	t.fault.retryAfter = d
	t.fault.hasRetryAfter = true
	return t
}

func (t Turn) hasToolUse() bool {
	for _, b := range t.Blocks {
		if b.Type == "tool_use" {
			return true
		}
	}
	return false
}
