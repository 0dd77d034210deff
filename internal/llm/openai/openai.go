// Package openai is the llm.Model of any OpenAI-compatible Chat Completions
// endpoint (OpenAI, Ollama, vLLM, llama.cpp server, OpenRouter, LM Studio),
// over the official Go SDK with streaming.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// DefaultMaxTokens bounds one answer when a request names no limit.
const DefaultMaxTokens = 16000

// Config configures a Model. Nothing here reads the environment.
type Config struct {
	// APIKey may be empty for local servers (Ollama, llama.cpp) that need none.
	APIKey string
	// BaseURL is the API root, e.g. https://api.openai.com/v1 or
	// http://localhost:11434/v1. It is required: this package knows no
	// default endpoint, so a missing setting never sends prompts elsewhere.
	BaseURL string
	// Model is the model id, required.
	Model string
	// MaxRetries bounds the SDK's own retries; llm.WithRetry is the retry
	// layer of QuickVibe, so zero means none here.
	MaxRetries int
	HTTPClient *http.Client
}

// Model calls a Chat Completions endpoint.
type Model struct {
	client sdk.Client
	model  string
}

var _ llm.Model = (*Model)(nil)

// New makes a Model; it fails at once when the endpoint or model is missing.
func New(cfg Config) (*Model, error) {
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("openai: %w: base URL is empty (set OPENAI_BASE_URL)", llm.ErrNotConfigured)
	}
	if cfg.Model == "" {
		return nil, fmt.Errorf("openai: %w: model is empty (set QV_MODEL)", llm.ErrNotConfigured)
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 10 * time.Minute
		httpClient = &http.Client{Transport: t}
	}
	key := cfg.APIKey
	if key == "" {
		// The SDK sends a bearer header in any case; local servers ignore it.
		key = "none"
	}
	client := sdk.NewClient(
		option.WithAPIKey(key),
		option.WithBaseURL(cfg.BaseURL),
		option.WithMaxRetries(max(cfg.MaxRetries, 0)),
		option.WithHTTPClient(httpClient),
	)
	return &Model{client: client, model: cfg.Model}, nil
}

// Name is the model id used when a request names none.
func (m *Model) Name() string { return m.model }

// toolCall accumulates one streamed tool call.
type toolCall struct {
	id, name string
	args     strings.Builder
}

// Stream sends req with streaming on and usage included, forwards text and
// tool-call starts to h, and returns the complete message. A stream that ends
// without a finish reason is ErrIncompleteStream.
func (m *Model) Stream(ctx context.Context, req llm.Request, h llm.StreamHandler) (llm.Response, error) {
	params, err := m.params(req)
	if err != nil {
		return llm.Response{}, fmt.Errorf("openai: %w", err)
	}
	var httpResp *http.Response
	stream := m.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&httpResp))
	defer stream.Close()

	var (
		text    strings.Builder
		calls   = map[int64]*toolCall{}
		order   []int64
		finish  string
		usage   llm.Usage
		refusal strings.Builder
	)
	for stream.Next() {
		chunk := stream.Current()
		if chunk.JSON.Usage.Valid() && (chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0) {
			cached := chunk.Usage.PromptTokensDetails.CachedTokens
			usage = llm.Usage{
				InputTokens:          chunk.Usage.PromptTokens - cached,
				OutputTokens:         chunk.Usage.CompletionTokens,
				CacheReadInputTokens: cached,
			}
		}
		for _, choice := range chunk.Choices {
			d := choice.Delta
			if d.Content != "" {
				text.WriteString(d.Content)
				if h != nil {
					h.TextDelta(d.Content)
				}
			}
			refusal.WriteString(d.Refusal)
			for i, tc := range d.ToolCalls {
				idx := tc.Index
				if !tc.JSON.Index.Valid() {
					// Some servers (Mistral) leave out the index: a fragment
					// with an id starts a new call, others continue the last.
					switch {
					case tc.ID != "" || len(order) == 0:
						idx = int64(len(order) + i)
					default:
						idx = order[len(order)-1]
					}
				}
				c, ok := calls[idx]
				if !ok {
					c = &toolCall{}
					calls[idx] = c
					order = append(order, idx)
				}
				if tc.ID != "" && c.id == "" {
					c.id = tc.ID
				}
				if tc.Function.Name != "" && c.name == "" {
					c.name = tc.Function.Name
					if h != nil {
						h.ToolUseStart(c.id, c.name)
					}
				}
				c.args.WriteString(tc.Function.Arguments)
			}
			if choice.FinishReason != "" {
				finish = choice.FinishReason
			}
		}
	}
	if err := stream.Err(); err != nil {
		return llm.Response{}, streamError(ctx, httpResp, err)
	}
	if finish == "" {
		return llm.Response{}, fmt.Errorf("openai: %w", ErrIncompleteStream)
	}

	out := llm.Response{Message: llm.Message{Role: llm.RoleAssistant}, Usage: usage}
	if text.Len() > 0 {
		out.Message.Content = append(out.Message.Content, llm.Block{Type: llm.BlockText, Text: text.String()})
	}
	slices.Sort(order)
	for n, idx := range order {
		c := calls[idx]
		id := c.id
		if id == "" {
			id = fmt.Sprintf("call_%d", n)
		}
		input := json.RawMessage(c.args.String())
		if strings.TrimSpace(c.args.String()) == "" {
			input = json.RawMessage(`{}`)
		}
		out.Message.Content = append(out.Message.Content, llm.Block{Type: llm.BlockToolUse, ToolUseID: id, Name: c.name, Input: input})
	}
	switch {
	case finish == "length":
		out.StopReason = llm.StopMaxTokens
	case finish == "content_filter" || (refusal.Len() > 0 && len(order) == 0):
		out.StopReason = llm.StopRefusal
	case len(order) > 0:
		out.StopReason = llm.StopToolUse
	default:
		out.StopReason = llm.StopEndTurn
	}
	return out, nil
}

// streamError sorts an error of the request or the stream into cancellation,
// API errors, unreachable endpoints and broken streams.
func streamError(ctx context.Context, resp *http.Response, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("openai: %w", ctxErr)
	}
	if apiErr, ok := errors.AsType[*sdk.Error](err); ok {
		return fmt.Errorf("openai: %w", newAPIError(apiErr))
	}
	if se, ok := errors.AsType[*ssestream.StreamError](err); ok {
		return fmt.Errorf("openai: %w", streamAPIError(se))
	}
	if resp == nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("openai: %w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("openai: %w: %w", ErrIncompleteStream, err)
}

// params converts a provider-neutral request to the SDK's.
func (m *Model) params(req llm.Request) (sdk.ChatCompletionNewParams, error) {
	model := req.Model
	if model == "" {
		model = m.model
	}
	maxTokens := int64(req.MaxTokens)
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	p := sdk.ChatCompletionNewParams{
		Model: shared.ChatModel(model),
		// max_tokens, not max_completion_tokens: compatible servers know it.
		MaxTokens:     sdk.Int(maxTokens),
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
	}
	if req.System != "" {
		p.Messages = append(p.Messages, sdk.SystemMessage(req.System))
	}
	for _, t := range req.Tools {
		var schema map[string]any
		if err := json.Unmarshal(t.Schema, &schema); err != nil {
			return p, fmt.Errorf("tool %s: schema: %w", t.Name, err)
		}
		fd := shared.FunctionDefinitionParam{Name: t.Name, Parameters: shared.FunctionParameters(schema)}
		if t.Description != "" {
			fd.Description = sdk.String(t.Description)
		}
		p.Tools = append(p.Tools, sdk.ChatCompletionFunctionTool(fd))
	}
	for i, msg := range req.Messages {
		mps, err := messageParams(msg)
		if err != nil {
			return p, fmt.Errorf("message %d: %w", i, err)
		}
		p.Messages = append(p.Messages, mps...)
	}
	if len(req.Messages) == 0 {
		return p, errors.New("request has no messages")
	}
	return p, nil
}

// messageParams converts one message: a user message with tool results
// becomes one "tool" message per result, then a user message for any text.
func messageParams(msg llm.Message) ([]sdk.ChatCompletionMessageParamUnion, error) {
	var texts []string
	var out []sdk.ChatCompletionMessageParamUnion
	switch msg.Role {
	case llm.RoleUser:
		for _, b := range msg.Content {
			switch b.Type {
			case llm.BlockText:
				if b.Text != "" {
					texts = append(texts, b.Text)
				}
			case llm.BlockToolResult:
				content := b.Text
				if b.IsError {
					content = "Error: " + content
				}
				if content == "" {
					content = "(no output)"
				}
				out = append(out, sdk.ToolMessage(content, b.ToolUseID))
			default:
				return nil, fmt.Errorf("block type %q in a user message", b.Type)
			}
		}
		if len(texts) > 0 {
			out = append(out, sdk.UserMessage(strings.Join(texts, "\n\n")))
		}
	case llm.RoleAssistant:
		am := sdk.ChatCompletionAssistantMessageParam{}
		for _, b := range msg.Content {
			switch b.Type {
			case llm.BlockText:
				if b.Text != "" {
					texts = append(texts, b.Text)
				}
			case llm.BlockToolUse:
				args := string(b.Input)
				if args == "" {
					args = "{}"
				}
				am.ToolCalls = append(am.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
						ID:       b.ToolUseID,
						Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: b.Name, Arguments: args},
					},
				})
			default:
				return nil, fmt.Errorf("block type %q in an assistant message", b.Type)
			}
		}
		if len(texts) > 0 {
			am.Content.OfString = sdk.String(strings.Join(texts, "\n\n"))
		}
		out = append(out, sdk.ChatCompletionMessageParamUnion{OfAssistant: &am})
	default:
		return nil, fmt.Errorf("unknown role %q", msg.Role)
	}
	if len(out) == 0 {
		return nil, errors.New("message has no content")
	}
	return out, nil
}
