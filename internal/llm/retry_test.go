package llm_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// recorder is a StreamHandler that also records retries.
type recorder struct {
	mu      sync.Mutex
	text    strings.Builder
	retries []time.Duration
}

func (r *recorder) TextDelta(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text.WriteString(s)
}
func (r *recorder) ToolUseStart(string, string) {}
func (r *recorder) Retrying(_ int, d time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, d)
	r.text.Reset() // what the failed attempt streamed is void
}

func newModel(t *testing.T, srv *anthropictest.Server, attempts int) llm.Model {
	t.Helper()
	m, err := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: srv.URL(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return llm.WithRetry(m, llm.RetryOptions{Attempts: attempts, BaseDelay: 5 * time.Millisecond, MaxDelay: time.Second})
}

var req = llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}

func TestRetryRecoversFrom(t *testing.T) {
	tests := []struct {
		name  string
		fault anthropictest.Turn
	}{
		{"529 overloaded", anthropictest.HTTPError(529, "overloaded_error", "Overloaded")},
		{"429 with retry-after", anthropictest.HTTPError(429, "rate_limit_error", "slow down").WithRetryAfter(50 * time.Millisecond)},
		{"500", anthropictest.HTTPError(500, "api_error", "boom")},
		{"stream cut mid-message", anthropictest.Reply(anthropictest.Text("Hello there, this is long")).CutAfter(3)},
		{"error event after 200", anthropictest.StreamError("overloaded_error", "Overloaded")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := anthropictest.NewServer(t)
			srv.Enqueue(tt.fault, anthropictest.Reply(anthropictest.Text("Done.")))
			rec := &recorder{}
			resp, err := newModel(t, srv, 3).Stream(t.Context(), req, rec)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got := resp.Message.Content[0].Text; got != "Done." {
				t.Errorf("text = %q, want Done.", got)
			}
			if rec.text.String() != "Done." {
				t.Errorf("streamed text after retry = %q, want only the successful attempt", rec.text.String())
			}
			if len(rec.retries) != 1 || len(srv.Requests()) != 2 {
				t.Errorf("retries = %v, requests = %d; want 1 retry, 2 requests", rec.retries, len(srv.Requests()))
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(anthropictest.HTTPError(429, "rate_limit_error", "slow down").WithRetryAfter(300*time.Millisecond),
		anthropictest.Reply(anthropictest.Text("ok")))
	rec := &recorder{}
	if _, err := newModel(t, srv, 2).Stream(t.Context(), req, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.retries) != 1 || rec.retries[0] != 300*time.Millisecond {
		t.Errorf("retry delays = %v, want [300ms] from retry-after", rec.retries)
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := anthropictest.NewServer(t)
	for range 3 {
		srv.Enqueue(anthropictest.HTTPError(529, "overloaded_error", "Overloaded"))
	}
	_, err := newModel(t, srv, 3).Stream(t.Context(), req, &recorder{})
	ex, ok := errors.AsType[*llm.RetriesExhaustedError](err)
	if !ok {
		t.Fatalf("err = %v, want RetriesExhaustedError", err)
	}
	if ex.Attempts != 3 || len(srv.Requests()) != 3 {
		t.Errorf("attempts = %d, requests = %d, want 3", ex.Attempts, len(srv.Requests()))
	}
	msg := ex.UserMessage()
	for _, want := range []string{"overloaded", "tried 3 times", "send the prompt again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("UserMessage %q lacks %q", msg, want)
		}
	}
}

func TestNoRetryOnClientError(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(anthropictest.HTTPError(400, "invalid_request_error", "bad"))
	_, err := newModel(t, srv, 3).Stream(t.Context(), req, &recorder{})
	if err == nil || len(srv.Requests()) != 1 {
		t.Fatalf("err = %v, requests = %d; want an error after 1 request", err, len(srv.Requests()))
	}
	if _, ok := errors.AsType[*llm.RetriesExhaustedError](err); ok {
		t.Errorf("a 400 is not retried, yet got %v", err)
	}
}
