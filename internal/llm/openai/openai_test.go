package openai_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/openai"
	"github.com/quickvibe/quickvibe/internal/llm/openaitest"
)

type handler struct {
	text  strings.Builder
	tools []string
}

func (h *handler) TextDelta(s string)                 { h.text.WriteString(s) }
func (h *handler) ToolUseStart(id, name string)       { h.tools = append(h.tools, id+":"+name) }
func (h *handler) Retrying(int, time.Duration, error) { h.text.Reset() }

func newModel(t *testing.T, srv *openaitest.Server) *openai.Model {
	t.Helper()
	m, err := openai.New(openai.Config{APIKey: openaitest.APIKey, BaseURL: srv.URL(), Model: "gpt-test"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var tools = []llm.Tool{{Name: "write_file", Description: "write", Schema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)}}

func TestStreamTextAndToolCalls(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(openaitest.Reply(
		openaitest.Text("Writing the page now."),
		openaitest.WriteFile("index.html", "<h1>Hello, wörld</h1>"),
		openaitest.ReadFile("style.css"),
	).WithUsage(1200, 80))
	h := &handler{}
	resp, err := newModel(t, srv).Stream(t.Context(), llm.Request{
		System: "be brief", Tools: tools,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "build"}}}},
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockText, Text: "Writing the page now."},
			{Type: llm.BlockToolUse, ToolUseID: "call_0001_0", Name: "write_file", Input: json.RawMessage(`{"content":"<h1>Hello, wörld</h1>","path":"index.html"}`)},
			{Type: llm.BlockToolUse, ToolUseID: "call_0001_1", Name: "read_file", Input: json.RawMessage(`{"path":"style.css"}`)},
		}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 1200, OutputTokens: 80},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response mismatch (-want +got):\n%s", diff)
	}
	if h.text.String() != "Writing the page now." || len(h.tools) != 2 {
		t.Errorf("streamed text %q, tool starts %v", h.text.String(), h.tools)
	}
	req := srv.Requests()[0]
	if !req.IncludeUsage || req.Model != "gpt-test" || req.Messages[0].Role != "system" || len(req.Tools) != 1 {
		t.Errorf("request = %+v; want include_usage, model, system message first, one tool", req)
	}
}

func TestToolResultsRoundTrip(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(openaitest.Reply(openaitest.Text("Done.")))
	_, err := newModel(t, srv).Stream(t.Context(), llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "build"}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ToolUseID: "call_1", Name: "read_file", Input: json.RawMessage(`{"path":"a"}`)}}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "call_1", Text: "a does not exist", IsError: true}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Requests()[0].Messages
	want := openaitest.Message{Role: "tool", ToolCallID: "call_1", Content: "Error: a does not exist"}
	if diff := cmp.Diff(want, msgs[2]); diff != "" {
		t.Errorf("tool message mismatch (-want +got):\n%s", diff)
	}
}

func TestFaultsAreRetried(t *testing.T) {
	tests := []struct {
		name  string
		fault openaitest.Turn
	}{
		{"429 with retry-after", openaitest.HTTPError(429, "rate_limit_error", "slow down").WithRetryAfter(20 * time.Millisecond)},
		{"503", openaitest.HTTPError(503, "server_error", "unavailable")},
		{"cut mid-message", openaitest.Reply(openaitest.Text("a long answer that breaks")).CutAfter(3)},
		{"error frame mid-stream", openaitest.Reply(openaitest.Text("a long answer")).StreamErrorAfter(2, "server_error", "boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := openaitest.NewServer(t)
			srv.Enqueue(tt.fault, openaitest.Reply(openaitest.Text("ok")))
			h := &handler{}
			m := llm.WithRetry(newModel(t, srv), llm.RetryOptions{Attempts: 2, BaseDelay: time.Millisecond})
			resp, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}, h)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Message.Content[0].Text != "ok" || h.text.String() != "ok" || len(srv.Requests()) != 2 {
				t.Errorf("resp %+v, streamed %q, %d requests", resp, h.text.String(), len(srv.Requests()))
			}
		})
	}
}

func TestErrorsExplain(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.WithAPIKey("other"))
	_, err := newModel(t, srv).Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}, nil)
	apiErr, ok := errors.AsType[*openai.APIError](err)
	if !ok || apiErr.StatusCode != 401 || apiErr.Retryable() || !strings.Contains(apiErr.UserMessage(), "OPENAI_API_KEY") {
		t.Fatalf("err = %v; want a 401 APIError naming OPENAI_API_KEY", err)
	}
	if _, err := openai.New(openai.Config{Model: "x"}); !errors.Is(err, llm.ErrNotConfigured) {
		t.Errorf("New without base URL: %v", err)
	}
}
