package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Request is a decoded request body, in a shape convenient for assertions.
type Request struct {
	Model     string
	MaxTokens int
	Stream    bool
	// System is the system prompt, its text blocks joined by "\n".
	System   string
	Messages []Message
	Tools    []Tool
	// Raw is the body as sent, for assertions on anything else.
	Raw json.RawMessage
}

// Message is one message of a request. String content becomes one text block.
type Message struct {
	Role    string
	Content []Content
}

// Content is one content block of a request message.
type Content struct {
	Type string
	// Text of a text block, or the text of a tool_result (its text blocks
	// joined by "\n").
	Text string
	// Tool use.
	ID    string
	Name  string
	Input json.RawMessage // compacted
	// Tool result.
	ToolUseID string
	IsError   bool
}

// Tool is one tool definition of a request.
type Tool struct {
	Name        string
	Description string
	InputSchema json.RawMessage // compacted
}

// wire shapes of the request body.
type wireRequest struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	Stream    bool            `json:"stream"`
	System    json.RawMessage `json:"system"`
	Messages  []wireMessage   `json:"messages"`
	Tools     []wireTool      `json:"tools"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wireBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

type wireTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// decodeRequest turns a body into a Request; the error reads like the API's
// invalid_request_error messages.
func decodeRequest(body []byte) (Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return Request{}, fmt.Errorf("invalid JSON body: %v", err)
	}
	req := Request{
		Model:     w.Model,
		MaxTokens: w.MaxTokens,
		Stream:    w.Stream,
		Raw:       json.RawMessage(bytes.Clone(body)),
	}
	system, err := textOf(w.System)
	if err != nil {
		return Request{}, fmt.Errorf("system: %v", err)
	}
	req.System = system
	for i, wm := range w.Messages {
		blocks, err := decodeContent(wm.Content)
		if err != nil {
			return Request{}, fmt.Errorf("messages.%d.content: %v", i, err)
		}
		req.Messages = append(req.Messages, Message{Role: wm.Role, Content: blocks})
	}
	for _, wt := range w.Tools {
		req.Tools = append(req.Tools, Tool{Name: wt.Name, Description: wt.Description, InputSchema: compact(wt.InputSchema)})
	}
	return req, nil
}

// textOf reads content that is a string or an array of text blocks.
func textOf(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("want a string or an array of text blocks")
	}
	texts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		if b.Type != "text" || b.Text == nil {
			return "", fmt.Errorf("want text blocks, got %q", b.Type)
		}
		texts = append(texts, *b.Text)
	}
	return strings.Join(texts, "\n"), nil
}

func decodeContent(raw json.RawMessage) ([]Content, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []Content{{Type: "text", Text: s}}, nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("want a string or an array of content blocks")
	}
	out := make([]Content, 0, len(blocks))
	for _, b := range blocks {
		c := Content{Type: b.Type, ID: b.ID, Name: b.Name, ToolUseID: b.ToolUseID, IsError: b.IsError}
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, fmt.Errorf("text block without text")
			}
			c.Text = *b.Text
		case "tool_use":
			c.Input = compact(b.Input)
		case "tool_result":
			text, err := textOf(b.Content)
			if err != nil {
				return nil, fmt.Errorf("tool_result content: %v", err)
			}
			c.Text = text
		}
		out = append(out, c)
	}
	return out, nil
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return json.RawMessage(bytes.Clone(raw))
	}
	return buf.Bytes()
}

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// validate checks what the real API checks and an agent loop can get wrong,
// with messages worded like the API's.
func validate(req Request) error {
	if !req.Stream {
		return fmt.Errorf("anthropictest serves only streaming requests; set stream: true")
	}
	if req.Model == "" {
		return fmt.Errorf("model: Field required")
	}
	if req.MaxTokens < 1 {
		return fmt.Errorf("max_tokens: Input should be greater than or equal to 1")
	}
	if len(req.Messages) == 0 {
		return fmt.Errorf("messages: at least one message is required")
	}
	for i, t := range req.Tools {
		if !toolNameRE.MatchString(t.Name) {
			return fmt.Errorf("tools.%d.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
		}
		var schema struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(t.InputSchema, &schema); err != nil || schema.Type != "object" {
			return fmt.Errorf("tools.%d.input_schema.type: Input should be 'object'", i)
		}
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Errorf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if len(m.Content) == 0 {
			return fmt.Errorf("messages.%d: all messages must have non-empty content", i)
		}
		for j, c := range m.Content {
			switch c.Type {
			case "text":
				if c.Text == "" {
					return fmt.Errorf("messages.%d.content.%d: text content blocks must be non-empty", i, j)
				}
			case "tool_use":
				if m.Role != "assistant" {
					return fmt.Errorf("messages.%d.content.%d: tool_use blocks are only allowed in assistant messages", i, j)
				}
				if c.ID == "" || c.Name == "" {
					return fmt.Errorf("messages.%d.content.%d: tool_use blocks need an id and a name", i, j)
				}
				if !bytes.HasPrefix(c.Input, []byte("{")) || !json.Valid(c.Input) {
					return fmt.Errorf("messages.%d.content.%d.input: Input should be a valid dictionary", i, j)
				}
			case "tool_result":
				if m.Role != "user" {
					return fmt.Errorf("messages.%d.content.%d: tool_result blocks are only allowed in user messages", i, j)
				}
			default:
				return fmt.Errorf("messages.%d.content.%d.type: anthropictest does not support %q blocks", i, j, c.Type)
			}
		}
		if err := checkToolPairing(req.Messages, i); err != nil {
			return err
		}
	}
	return nil
}

// checkToolPairing enforces the API's rule: every tool_use of an assistant
// message has a tool_result in the next message, and every tool_result answers
// a tool_use of the previous message.
func checkToolPairing(msgs []Message, i int) error {
	m := msgs[i]
	if m.Role == "assistant" {
		var missing []string
		for _, c := range m.Content {
			if c.Type != "tool_use" {
				continue
			}
			if i+1 >= len(msgs) || !hasResultFor(msgs[i+1], c.ID) {
				missing = append(missing, c.ID)
			}
		}
		if len(missing) > 0 {
			//lint:ignore ST1005 the API's own wording, which clients show
			return fmt.Errorf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, strings.Join(missing, ", "))
		}
		return nil
	}
	for j, c := range m.Content {
		if c.Type != "tool_result" {
			continue
		}
		if i == 0 || !hasUseFor(msgs[i-1], c.ToolUseID) {
			//lint:ignore ST1005 the API's own wording, which clients show
			return fmt.Errorf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, c.ToolUseID)
		}
	}
	return nil
}

func hasResultFor(m Message, id string) bool {
	if m.Role != "user" {
		return false
	}
	for _, c := range m.Content {
		if c.Type == "tool_result" && c.ToolUseID == id {
			return true
		}
	}
	return false
}

func hasUseFor(m Message, id string) bool {
	if m.Role != "assistant" {
		return false
	}
	for _, c := range m.Content {
		if c.Type == "tool_use" && c.ID == id {
			return true
		}
	}
	return false
}
