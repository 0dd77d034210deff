package openaitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Request is a decoded chat completions request.
type Request struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	MaxTokens    int64
	Tools        []string
	Messages     []Message
}

// Message is one message of a request.
type Message struct {
	Role       string
	Content    string
	ToolCalls  []ToolCallMsg
	ToolCallID string
}

// ToolCallMsg is a tool call in an assistant message.
type ToolCallMsg struct {
	ID, Name, Arguments string
}

func decodeRequest(body []byte) (Request, error) {
	var raw struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		MaxTokens           int64 `json:"max_tokens"`
		MaxCompletionTokens int64 `json:"max_completion_tokens"`
		Tools               []struct {
			Type     string `json:"type"`
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Request{}, fmt.Errorf("invalid JSON body: %w", err)
	}
	req := Request{Model: raw.Model, Stream: raw.Stream, MaxTokens: max(raw.MaxTokens, raw.MaxCompletionTokens)}
	if raw.StreamOptions != nil {
		req.IncludeUsage = raw.StreamOptions.IncludeUsage
	}
	for _, t := range raw.Tools {
		if t.Type != "function" || t.Function.Name == "" || !json.Valid(t.Function.Parameters) {
			return Request{}, fmt.Errorf("tools: want {type:function, function:{name, parameters}}, got type %q name %q", t.Type, t.Function.Name)
		}
		req.Tools = append(req.Tools, t.Function.Name)
	}
	for i, m := range raw.Messages {
		msg := Message{Role: m.Role, ToolCallID: m.ToolCallID}
		if len(m.Content) > 0 && string(m.Content) != "null" {
			var s string
			if err := json.Unmarshal(m.Content, &s); err == nil {
				msg.Content = s
			} else {
				var parts []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				}
				if err := json.Unmarshal(m.Content, &parts); err != nil {
					return Request{}, fmt.Errorf("messages[%d].content: want a string or parts", i)
				}
				var b strings.Builder
				for _, p := range parts {
					b.WriteString(p.Text)
				}
				msg.Content = b.String()
			}
		}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, ToolCallMsg{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		req.Messages = append(req.Messages, msg)
	}
	return req, nil
}

// validate checks what the real API rejects: no stream flag, missing
// messages, tool messages that answer no call, calls left unanswered.
func validate(req Request) error {
	if req.Model == "" {
		return errors.New("you must provide a model parameter")
	}
	if !req.Stream {
		return errors.New("openaitest only streams; set stream: true")
	}
	if len(req.Messages) == 0 {
		return errors.New("messages: must not be empty")
	}
	pending := map[string]bool{}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user":
			if len(pending) > 0 {
				return fmt.Errorf("messages[%d]: an assistant message with tool_calls must be followed by tool messages answering each tool_call_id", i)
			}
		case "assistant":
			if len(pending) > 0 {
				return fmt.Errorf("messages[%d]: tool calls left unanswered", i)
			}
			if m.Content == "" && len(m.ToolCalls) == 0 {
				return fmt.Errorf("messages[%d]: assistant message needs content or tool_calls", i)
			}
			for _, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Name == "" || !json.Valid([]byte(tc.Arguments)) {
					return fmt.Errorf("messages[%d]: tool call needs id, name and JSON arguments", i)
				}
				pending[tc.ID] = true
			}
		case "tool":
			if !pending[m.ToolCallID] {
				return fmt.Errorf("messages[%d]: tool message answers unknown tool_call_id %q", i, m.ToolCallID)
			}
			delete(pending, m.ToolCallID)
		default:
			return fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
	}
	if len(pending) > 0 {
		return errors.New("the last assistant message's tool calls are unanswered")
	}
	return nil
}
