// Package llm speaks to model providers. It offers one provider-neutral
// message shape so the agent loop does not depend on any one API.
package llm

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrNotConfigured is returned when no model provider is set up.
var ErrNotConfigured = errors.New("llm: no model configured")

// Role of a message in a conversation.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// BlockType is the kind of one content block.
type BlockType string

const (
	BlockText       BlockType = "text"
	BlockToolUse    BlockType = "tool_use"
	BlockToolResult BlockType = "tool_result"
)

// Block is one piece of a message: text, a tool call by the model, or the
// result of a tool call sent back to the model.
type Block struct {
	Type BlockType `json:"type"`
	Text string    `json:"text,omitempty"`

	// Tool use.
	ToolUseID string          `json:"toolUseId,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`

	// Tool result (Text holds the content).
	IsError bool `json:"isError,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role    Role    `json:"role"`
	Content []Block `json:"content"`
}

// Tool is a function the model may call; Schema is a JSON Schema object.
type Tool struct {
	Name        string
	Description string
	Schema      json.RawMessage
}

// Request is one model call.
type Request struct {
	Model     string
	System    string
	Messages  []Message
	Tools     []Tool
	MaxTokens int
}

// StopReason says why the model stopped.
type StopReason string

const (
	StopEndTurn   StopReason = "end_turn"
	StopToolUse   StopReason = "tool_use"
	StopMaxTokens StopReason = "max_tokens"
	StopRefusal   StopReason = "refusal"
)

// Usage counts tokens of one call.
type Usage struct {
	InputTokens              int64 `json:"inputTokens"`
	OutputTokens             int64 `json:"outputTokens"`
	CacheCreationInputTokens int64 `json:"cacheCreationInputTokens"`
	CacheReadInputTokens     int64 `json:"cacheReadInputTokens"`
}

// Response is the complete assistant message of one call.
type Response struct {
	Message    Message
	StopReason StopReason
	Usage      Usage
}

// StreamHandler receives text as it streams; it must not block for long.
type StreamHandler interface {
	// TextDelta is a piece of assistant text.
	TextDelta(text string)
	// ToolUseStart says the model began calling a tool (its input follows).
	ToolUseStart(id, name string)
}

// Model is a model provider.
type Model interface {
	// Name is the model's id, e.g. "claude-sonnet-4-5".
	Name() string
	// Stream sends req and streams the answer to h, returning the whole
	// message once it is complete.
	Stream(ctx context.Context, req Request, h StreamHandler) (Response, error)
}
