package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// recorder is a StreamHandler that notes what it was told, in order.
type recorder struct {
	events []string
	// onText, when set, runs after each text delta.
	onText func(string)
}

func (r *recorder) TextDelta(text string) {
	r.events = append(r.events, "text:"+text)
	if r.onText != nil {
		r.onText(text)
	}
}

func (r *recorder) ToolUseStart(id, name string) {
	r.events = append(r.events, "tool:"+id+":"+name)
}

func newModel(t *testing.T, s *anthropictest.Server, retries int) *anthropic.Model {
	t.Helper()
	m, err := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: s.URL(), MaxRetries: retries})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func userText(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: s}}}
}

func TestStreamText(t *testing.T) {
	t.Parallel()
	s := anthropictest.NewServer(t)
	s.Enqueue(anthropictest.Reply(anthropictest.Text("Hello, world!")).
		WithUsage(anthropictest.Usage{InputTokens: 12, OutputTokens: 34, CacheCreationInputTokens: 5, CacheReadInputTokens: 6}))
	m := newModel(t, s, -1)

	var rec recorder
	got, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("hi")}}, &rec)
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Hello, world!"}}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 12, OutputTokens: 34, CacheCreationInputTokens: 5, CacheReadInputTokens: 6},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stream() mismatch (-want +got):\n%s", diff)
	}
	// The double cuts text into five-rune deltas; they must arrive in order.
	wantEvents := []string{"text:Hello", "text:, wor", "text:ld!"}
	if diff := cmp.Diff(wantEvents, rec.events); diff != "" {
		t.Errorf("handler events mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamToolUse(t *testing.T) {
	t.Parallel()
	s := anthropictest.NewServer(t)
	s.Enqueue(anthropictest.Reply(
		anthropictest.Text("Writing."),
		anthropictest.WriteFile("index.html", "<h1>Hi & bye</h1>\n").WithID("toolu_w"),
		anthropictest.ListFiles("").WithID("toolu_l"),
	))
	m := newModel(t, s, -1)

	var rec recorder
	got, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("build")}}, &rec)
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockText, Text: "Writing."},
			{Type: llm.BlockToolUse, ToolUseID: "toolu_w", Name: "write_file", Input: json.RawMessage(`{"content":"<h1>Hi & bye</h1>\n","path":"index.html"}`)},
			{Type: llm.BlockToolUse, ToolUseID: "toolu_l", Name: "list_files", Input: json.RawMessage(`{}`)},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: anthropictest.DefaultInputTokens, OutputTokens: anthropictest.DefaultOutputTokens},
	}
	if diff := cmp.Diff(want, got, cmp.Transformer("json", func(r json.RawMessage) string { return string(r) })); diff != "" {
		t.Errorf("Stream() mismatch (-want +got):\n%s", diff)
	}
	wantEvents := []string{"text:Writi", "text:ng.", "tool:toolu_w:write_file", "tool:toolu_l:list_files"}
	if diff := cmp.Diff(wantEvents, rec.events); diff != "" {
		t.Errorf("handler events mismatch (-want +got):\n%s", diff)
	}
}

func TestRequestConversion(t *testing.T) {
	t.Parallel()
	s := anthropictest.NewServer(t)
	s.Enqueue(anthropictest.Reply(anthropictest.Text("ok")), anthropictest.Reply(anthropictest.Text("ok")))
	m := newModel(t, s, -1)

	schema := json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"relative path"}},"required":["path"],"additionalProperties":false}`)
	req := llm.Request{
		System: "You build websites.",
		Tools:  []llm.Tool{{Name: "read_file", Description: "Read a file.", Schema: schema}},
		Messages: []llm.Message{
			userText("make a site"),
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockText, Text: ""}, // dropped: the API rejects empty text
				{Type: llm.BlockText, Text: "Let me look."},
				{Type: llm.BlockToolUse, ToolUseID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"index.html"}`)},
				{Type: llm.BlockToolUse, ToolUseID: "toolu_2", Name: "read_file", Input: json.RawMessage(`{"path":"nope.html"}`)},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolUseID: "toolu_1", Text: "<html></html>"},
				{Type: llm.BlockToolResult, ToolUseID: "toolu_2", Text: "nope.html does not exist", IsError: true},
			}},
		},
	}
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	req.Model = "claude-other"
	req.MaxTokens = 123
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}

	wantMessages := []anthropictest.Message{
		{Role: "user", Content: []anthropictest.Content{{Type: "text", Text: "make a site"}}},
		{Role: "assistant", Content: []anthropictest.Content{
			{Type: "text", Text: "Let me look."},
			{Type: "tool_use", ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"index.html"}`)},
			{Type: "tool_use", ID: "toolu_2", Name: "read_file", Input: json.RawMessage(`{"path":"nope.html"}`)},
		}},
		{Role: "user", Content: []anthropictest.Content{
			{Type: "tool_result", ToolUseID: "toolu_1", Text: "<html></html>"},
			{Type: "tool_result", ToolUseID: "toolu_2", Text: "nope.html does not exist", IsError: true},
		}},
	}
	wantTools := []anthropictest.Tool{{Name: "read_file", Description: "Read a file.", InputSchema: json.RawMessage(
		`{"additionalProperties":false,"properties":{"path":{"description":"relative path","type":"string"}},"required":["path"],"type":"object"}`)}}
	want := []anthropictest.Request{
		{Model: anthropic.DefaultModel, MaxTokens: anthropic.DefaultMaxTokens, Stream: true, System: "You build websites.", Messages: wantMessages, Tools: wantTools},
		{Model: "claude-other", MaxTokens: 123, Stream: true, System: "You build websites.", Messages: wantMessages, Tools: wantTools},
	}
	got := s.Requests()
	// Key order inside a schema is not part of its meaning.
	normJSON := cmp.Transformer("json", func(r json.RawMessage) any {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return string(r)
		}
		return v
	})
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(anthropictest.Request{}, "Raw"), normJSON); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}

	// Cache breakpoints: one on the system prompt, one on the newest block.
	var raw struct {
		System []struct {
			CacheControl *struct{ Type string } `json:"cache_control"`
		}
		Messages []struct {
			Content []struct {
				CacheControl *struct{ Type string } `json:"cache_control"`
			}
		}
	}
	if err := json.Unmarshal(got[0].Raw, &raw); err != nil {
		t.Fatal(err)
	}
	var marked []string
	for i, b := range raw.System {
		if b.CacheControl != nil {
			marked = append(marked, fmt.Sprintf("system.%d:%s", i, b.CacheControl.Type))
		}
	}
	for i, msg := range raw.Messages {
		for j, b := range msg.Content {
			if b.CacheControl != nil {
				marked = append(marked, fmt.Sprintf("messages.%d.%d:%s", i, j, b.CacheControl.Type))
			}
		}
	}
	if diff := cmp.Diff([]string{"system.0:ephemeral", "messages.2.1:ephemeral"}, marked); diff != "" {
		t.Errorf("cache_control mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	hello := anthropictest.Reply(anthropictest.Text("Hello there, friend"))
	tests := []struct {
		name  string
		key   string
		turn  anthropictest.Turn
		check func(t *testing.T, err error)
	}{
		{
			name: "wrong key",
			key:  "sk-ant-wrong",
			check: func(t *testing.T, err error) {
				apiErr := wantAPIError(t, err, 401, "authentication_error", false)
				if got, want := apiErr.UserMessage(), "the model API rejected the key (ANTHROPIC_API_KEY)"; got != want {
					t.Errorf("UserMessage() = %q, want %q", got, want)
				}
				if apiErr.RequestID == "" {
					t.Error("no request id")
				}
			},
		},
		{
			name: "sse error after 200",
			turn: anthropictest.StreamError("overloaded_error", "Overloaded"),
			check: func(t *testing.T, err error) {
				apiErr := wantAPIError(t, err, 200, "overloaded_error", true)
				if apiErr.Message != "Overloaded" || !apiErr.Retryable() {
					t.Errorf("error = %+v, want the message and retryable", apiErr)
				}
			},
		},
		{
			name: "sse error mid text",
			turn: hello.StreamErrorAfter(5, "api_error", "Internal server error"),
			check: func(t *testing.T, err error) {
				wantAPIError(t, err, 200, "api_error", true)
			},
		},
		{
			name: "bad request is not retryable",
			turn: anthropictest.HTTPError(400, "invalid_request_error", "max_tokens: too large"),
			check: func(t *testing.T, err error) {
				apiErr := wantAPIError(t, err, 400, "invalid_request_error", false)
				if apiErr.Retryable() || !strings.Contains(apiErr.UserMessage(), "max_tokens: too large") {
					t.Errorf("error = %+v (%q), want not retryable, message shown", apiErr, apiErr.UserMessage())
				}
			},
		},
		{
			name: "rate limited",
			turn: anthropictest.HTTPError(429, "rate_limit_error", "slow down").WithRetryAfter(3 * time.Second),
			check: func(t *testing.T, err error) {
				apiErr := wantAPIError(t, err, 429, "rate_limit_error", false)
				if apiErr.RetryAfter != 3*time.Second || !apiErr.Retryable() {
					t.Errorf("error = %+v, want retry after 3s", apiErr)
				}
			},
		},
		{
			name: "connection cut mid message",
			turn: hello.CutAfter(5),
			check: func(t *testing.T, err error) {
				if !errors.Is(err, anthropic.ErrIncompleteStream) {
					t.Errorf("err = %v, want ErrIncompleteStream", err)
				}
			},
		},
		{
			name: "clean end without message_stop",
			turn: hello.EndAfter(8),
			check: func(t *testing.T, err error) {
				if !errors.Is(err, anthropic.ErrIncompleteStream) {
					t.Errorf("err = %v, want ErrIncompleteStream", err)
				}
				if got := anthropic.UserMessage(err); !strings.Contains(got, "broke off") {
					t.Errorf("UserMessage() = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := tt.key
			if key == "" {
				key = anthropictest.APIKey
			}
			s := anthropictest.NewServer(t)
			s.Enqueue(tt.turn)
			m, err := anthropic.New(anthropic.Config{APIKey: key, BaseURL: s.URL(), MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("hi")}}, &recorder{})
			if err == nil {
				t.Fatalf("Stream() = %+v, want an error", resp)
			}
			tt.check(t, err)
		})
	}
}

func wantAPIError(t *testing.T, err error, status int, typ string, inStream bool) *anthropic.APIError {
	t.Helper()
	apiErr, ok := errors.AsType[*anthropic.APIError](err)
	if !ok {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.StatusCode != status || apiErr.Type != typ || apiErr.InStream != inStream {
		t.Errorf("APIError = {status %d, type %q, in stream %v}, want {%d, %q, %v}", apiErr.StatusCode, apiErr.Type, apiErr.InStream, status, typ, inStream)
	}
	if _, ok := errors.AsType[*sdk.Error](err); !ok {
		t.Error("the SDK's error is not wrapped")
	}
	if anthropic.UserMessage(err) != apiErr.UserMessage() {
		t.Errorf("UserMessage(err) = %q, want %q", anthropic.UserMessage(err), apiErr.UserMessage())
	}
	return apiErr
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		retries      int
		wantErr      bool
		wantRequests int
	}{
		{name: "one retry recovers", retries: 1, wantRequests: 2},
		{name: "negative turns retries off", retries: -1, wantErr: true, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := anthropictest.NewServer(t)
			s.Enqueue(
				anthropictest.HTTPError(529, "overloaded_error", "Overloaded").WithRetryAfter(0),
				anthropictest.Reply(anthropictest.Text("ok")),
			)
			m := newModel(t, s, tt.retries)
			_, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("hi")}}, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := len(s.Requests()); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	m, err := anthropic.New(anthropic.Config{APIKey: "k", BaseURL: url, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("hi")}}, nil)
	if !errors.Is(err, anthropic.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	// A server that starts a message and then stalls, as a slow model does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n")
		fmt.Fprint(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		fmt.Fprint(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	m, err := anthropic.New(anthropic.Config{APIKey: "k", BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := &recorder{onText: func(string) { cancel() }}
	start := time.Now()
	_, err = m.Stream(ctx, llm.Request{Messages: []llm.Message{userText("hi")}}, rec)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stream took %v after cancel", d)
	}
}

func TestNew(t *testing.T) {
	// Not parallel: it sets environment variables the SDK would read by default.
	t.Setenv("ANTHROPIC_API_KEY", "sk-from-env")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "x-api-key: sk-from-env")

	if _, err := anthropic.New(anthropic.Config{}); !errors.Is(err, llm.ErrNotConfigured) {
		t.Errorf("New without key: err = %v, want ErrNotConfigured", err)
	}

	s := anthropictest.NewServer(t)
	s.Enqueue(anthropictest.Reply(anthropictest.Text("ok")))
	m, err := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: s.URL(), Model: "claude-x", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "claude-x" {
		t.Errorf("Name() = %q", m.Name())
	}
	// Our key and URL win over the environment: the double accepts only its key.
	if _, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{userText("hi")}}, nil); err != nil {
		t.Fatalf("Stream() with env set = %v", err)
	}
	if got := s.Requests()[0].Model; got != "claude-x" {
		t.Errorf("model sent = %q", got)
	}
}
