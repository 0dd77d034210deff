// Package anthropic is the llm.Model of Anthropic's Messages API, over the
// official Go SDK with streaming.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// Defaults applied by New and Stream.
const (
	DefaultModel      = "claude-sonnet-4-5"
	DefaultMaxTokens  = 16000
	DefaultMaxRetries = 2
)

// Config configures a Model. It is loaded elsewhere; nothing here reads the
// environment.
type Config struct {
	APIKey string
	// BaseURL replaces https://api.anthropic.com when set.
	BaseURL string
	// Model defaults to DefaultModel.
	Model string
	// MaxRetries bounds the SDK's retries of a request that failed before its
	// stream began (connection errors, 408, 409, 429, 5xx). Zero means
	// DefaultMaxRetries; a negative value turns retries off.
	MaxRetries int
	// HTTPClient defaults to a client whose transport bounds the wait for
	// response headers (not the stream).
	HTTPClient *http.Client
}

// Model calls Anthropic's Messages API.
type Model struct {
	client sdk.Client
	model  string
}

var _ llm.Model = (*Model)(nil)

// New makes a Model. It fails when the key is missing rather than on the
// first call, so a misconfiguration shows at start-up.
func New(cfg Config) (*Model, error) {
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("anthropic: %w: API key is empty", llm.ErrNotConfigured)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = defaultHTTPClient()
	}
	opts := []option.RequestOption{
		// The SDK would otherwise read ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN,
		// ANTHROPIC_BASE_URL, profiles and federation settings from the
		// environment; our config is the only source.
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(retries),
		option.WithHTTPClient(httpClient),
		// Spans are off so ANTHROPIC_OPEN_TELEMETRY* variables cannot turn on
		// tracing of prompt content behind our back.
		option.WithoutOpenTelemetry(),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	return &Model{client: sdk.NewClient(opts...), model: cfg.Model}, nil
}

// defaultHTTPClient mirrors the SDK's own default: without a bound on the
// wait for headers, a server that accepts and never answers hangs a run.
func defaultHTTPClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Client{}
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = 10 * time.Minute
	return &http.Client{Transport: t}
}

// Name is the model id used when a request names none.
func (m *Model) Name() string { return m.model }

// Stream sends req with streaming on, forwards text deltas and tool-use starts
// to h as they arrive (h may be nil), and returns the complete message. A
// stream that fails after HTTP 200 (an SSE error event, a broken connection,
// or no message_stop) is an error too, never a partial Response.
func (m *Model) Stream(ctx context.Context, req llm.Request, h llm.StreamHandler) (llm.Response, error) {
	params, err := m.params(req)
	if err != nil {
		return llm.Response{}, fmt.Errorf("anthropic: %w", err)
	}
	var resp *http.Response
	stream := m.client.Messages.NewStreaming(ctx, params, option.WithResponseInto(&resp))
	defer stream.Close()

	var msg sdk.Message
	complete := false
	for stream.Next() {
		ev := stream.Current()
		if err := msg.Accumulate(ev); err != nil {
			return llm.Response{}, fmt.Errorf("anthropic: accumulate stream: %w", err)
		}
		switch ev.Type {
		case "content_block_start":
			if h != nil && ev.ContentBlock.Type == "tool_use" {
				h.ToolUseStart(ev.ContentBlock.ID, ev.ContentBlock.Name)
			}
		case "content_block_delta":
			if h != nil && ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
				h.TextDelta(ev.Delta.Text)
			}
		case "message_stop":
			complete = true
		}
	}
	if err := stream.Err(); err != nil {
		return llm.Response{}, streamError(ctx, resp, err)
	}
	if !complete {
		return llm.Response{}, fmt.Errorf("anthropic: %w", ErrIncompleteStream)
	}
	return toResponse(msg), nil
}

// streamError wraps an error of the request or the stream so callers can tell
// cancellation, API errors, unreachable APIs and broken streams apart. resp is
// the HTTP response, nil when none came.
func streamError(ctx context.Context, resp *http.Response, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("anthropic: %w", ctxErr)
	}
	if sdkErr, ok := errors.AsType[*sdk.Error](err); ok {
		return fmt.Errorf("anthropic: %w", newAPIError(sdkErr))
	}
	if resp == nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("anthropic: %w: %w", ErrUnreachable, err)
	}
	// The answer had begun: the body broke off (unexpected EOF, reset).
	return fmt.Errorf("anthropic: %w: %w", ErrIncompleteStream, err)
}

// params converts a provider-neutral request to the SDK's.
func (m *Model) params(req llm.Request) (sdk.MessageNewParams, error) {
	model := req.Model
	if model == "" {
		model = m.model
	}
	maxTokens := int64(req.MaxTokens)
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	p := sdk.MessageNewParams{
		Model:     sdk.Model(model),
		MaxTokens: maxTokens,
	}
	if req.System != "" {
		// A cache breakpoint here covers tools and system, which stay the same
		// for a whole conversation.
		p.System = []sdk.TextBlockParam{{Text: req.System, CacheControl: sdk.NewCacheControlEphemeralParam()}}
	}
	for _, t := range req.Tools {
		tp, err := toolParam(t)
		if err != nil {
			return p, err
		}
		p.Tools = append(p.Tools, sdk.ToolUnionParam{OfTool: &tp})
	}
	for i, msg := range req.Messages {
		mp, err := messageParam(msg)
		if err != nil {
			return p, fmt.Errorf("message %d: %w", i, err)
		}
		p.Messages = append(p.Messages, mp)
	}
	if len(p.Messages) == 0 {
		return p, errors.New("request has no messages")
	}
	// A moving breakpoint on the newest block lets the next call of an agent
	// loop read the whole conversation so far from the cache.
	setCacheControl(p.Messages[len(p.Messages)-1])
	return p, nil
}

func toolParam(t llm.Tool) (sdk.ToolParam, error) {
	var schema map[string]any
	if err := json.Unmarshal(t.Schema, &schema); err != nil {
		return sdk.ToolParam{}, fmt.Errorf("tool %s: schema: %w", t.Name, err)
	}
	if typ, ok := schema["type"]; ok && typ != "object" {
		return sdk.ToolParam{}, fmt.Errorf("tool %s: schema type is %v, must be object", t.Name, typ)
	}
	in := sdk.ToolInputSchemaParam{ExtraFields: map[string]any{}}
	for k, v := range schema {
		switch k {
		case "type":
		case "properties":
			in.Properties = v
		case "required":
			req, ok := v.([]any)
			if !ok {
				return sdk.ToolParam{}, fmt.Errorf("tool %s: schema required is not a list", t.Name)
			}
			for _, r := range req {
				s, ok := r.(string)
				if !ok {
					return sdk.ToolParam{}, fmt.Errorf("tool %s: schema required holds a non-string", t.Name)
				}
				in.Required = append(in.Required, s)
			}
		default:
			in.ExtraFields[k] = v
		}
	}
	tp := sdk.ToolParam{Name: t.Name, InputSchema: in}
	if t.Description != "" {
		tp.Description = sdk.String(t.Description)
	}
	return tp, nil
}

func messageParam(msg llm.Message) (sdk.MessageParam, error) {
	mp := sdk.MessageParam{}
	switch msg.Role {
	case llm.RoleUser:
		mp.Role = sdk.MessageParamRoleUser
	case llm.RoleAssistant:
		mp.Role = sdk.MessageParamRoleAssistant
	default:
		return mp, fmt.Errorf("unknown role %q", msg.Role)
	}
	for _, b := range msg.Content {
		switch b.Type {
		case llm.BlockText:
			// The API rejects empty text blocks; they carry nothing anyway.
			if b.Text == "" {
				continue
			}
			mp.Content = append(mp.Content, sdk.NewTextBlock(b.Text))
		case llm.BlockToolUse:
			input := b.Input
			if len(input) == 0 || !json.Valid(input) {
				input = json.RawMessage(`{}`)
			}
			mp.Content = append(mp.Content, sdk.NewToolUseBlock(b.ToolUseID, input, b.Name))
		case llm.BlockToolResult:
			tr := sdk.ToolResultBlockParam{ToolUseID: b.ToolUseID}
			if b.Text != "" {
				tr.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: b.Text}}}
			}
			if b.IsError {
				tr.IsError = sdk.Bool(true)
			}
			mp.Content = append(mp.Content, sdk.ContentBlockParamUnion{OfToolResult: &tr})
		default:
			return mp, fmt.Errorf("unknown block type %q", b.Type)
		}
	}
	if len(mp.Content) == 0 {
		return mp, errors.New("message has no content")
	}
	return mp, nil
}

func setCacheControl(mp sdk.MessageParam) {
	last := mp.Content[len(mp.Content)-1]
	cc := sdk.NewCacheControlEphemeralParam()
	switch {
	case last.OfText != nil:
		last.OfText.CacheControl = cc
	case last.OfToolUse != nil:
		last.OfToolUse.CacheControl = cc
	case last.OfToolResult != nil:
		last.OfToolResult.CacheControl = cc
	}
}

// toResponse converts the accumulated message. Block types we never ask for
// (thinking, server tools) are dropped.
func toResponse(msg sdk.Message) llm.Response {
	out := llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant},
		StopReason: llm.StopReason(msg.StopReason),
		Usage: llm.Usage{
			InputTokens:              msg.Usage.InputTokens,
			OutputTokens:             msg.Usage.OutputTokens,
			CacheCreationInputTokens: msg.Usage.CacheCreationInputTokens,
			CacheReadInputTokens:     msg.Usage.CacheReadInputTokens,
		},
	}
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			out.Message.Content = append(out.Message.Content, llm.Block{Type: llm.BlockText, Text: b.Text})
		case "tool_use":
			input := b.Input
			if len(input) == 0 {
				input = json.RawMessage(`{}`)
			}
			out.Message.Content = append(out.Message.Content, llm.Block{
				Type: llm.BlockToolUse, ToolUseID: b.ID, Name: b.Name, Input: input,
			})
		}
	}
	return out
}
