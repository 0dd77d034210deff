// Package openaitest is a test double of an OpenAI-compatible Chat
// Completions endpoint that speaks the streaming wire format exactly:
// `data:` frames without event names, tool-call deltas addressed by index,
// a usage chunk with empty choices when stream_options.include_usage is set,
// and `data: [DONE]`. Tests script the answers turn by turn.
package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIKey is the only bearer token the server accepts unless WithAPIKey says otherwise.
const APIKey = "sk-openai-test-key"

// Default token counts of a turn that sets no usage.
const (
	DefaultPromptTokens     = 100
	DefaultCompletionTokens = 20
)

// How finely the stream is cut, so every text and argument arrives in pieces.
const (
	textChunkRunes = 5
	argsChunkRunes = 12
)

// Block is a piece of a scripted assistant message: text or a tool call.
type Block struct {
	Text string
	// Tool call (Name set).
	ID, Name  string
	Arguments string
}

// Text is assistant text.
func Text(s string) Block { return Block{Text: s} }

// ToolCall is a function call whose arguments are input marshalled to JSON.
func ToolCall(name string, input any) Block {
	// As the API writes it: no HTML escaping.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(input); err != nil {
		panic(err)
	}
	return Block{Name: name, Arguments: strings.TrimSuffix(b.String(), "\n")}
}

// WriteFile calls QuickVibe's write_file tool.
func WriteFile(path, content string) Block {
	return ToolCall("write_file", map[string]string{"path": path, "content": content})
}

// EditFile calls edit_file.
func EditFile(path, oldString, newString string) Block {
	return ToolCall("edit_file", map[string]string{"path": path, "old_string": oldString, "new_string": newString})
}

// ReadFile calls read_file.
func ReadFile(path string) Block { return ToolCall("read_file", map[string]string{"path": path}) }

// RunCommand calls run_command.
func RunCommand(command string) Block {
	return ToolCall("run_command", map[string]string{"command": command})
}

// Turn is the answer to one request.
type Turn struct {
	Blocks []Block
	// FinishReason defaults to tool_calls when there is a tool call, else stop.
	FinishReason     string
	PromptTokens     int64
	CompletionTokens int64

	status     int
	errMsg     string
	errType    string
	retryAfter time.Duration
	cutAfter   int // frames before the connection drops; 0 = none
	errAfter   int // frames before an error frame; 0 = none
}

// Reply is an assistant message.
func Reply(blocks ...Block) Turn { return Turn{Blocks: blocks} }

// HTTPError answers status with an OpenAI error body.
func HTTPError(status int, errType, message string) Turn {
	return Turn{status: status, errType: errType, errMsg: message}
}

// WithRetryAfter adds a retry-after header to an HTTPError.
func (t Turn) WithRetryAfter(d time.Duration) Turn {
	t.retryAfter = d
	return t
}

// CutAfter drops the connection after n frames, without [DONE].
func (t Turn) CutAfter(n int) Turn {
	t.cutAfter = n
	return t
}

// StreamErrorAfter sends a data frame with an error key after n frames.
func (t Turn) StreamErrorAfter(n int, errType, message string) Turn {
	t.errAfter, t.errType, t.errMsg = n, errType, message
	return t
}

// WithUsage sets the reported token counts.
func (t Turn) WithUsage(prompt, completion int64) Turn {
	t.PromptTokens, t.CompletionTokens = prompt, completion
	return t
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the accepted bearer token.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithResponder answers requests once the queue is empty.
func WithResponder(f func(Request) Turn) Option { return func(s *Server) { s.responder = f } }

// Server is the test double; its URL ends in /v1 as base URLs do.
type Server struct {
	t         testing.TB
	srv       *httptest.Server
	apiKey    string
	responder func(Request) Turn

	mu       sync.Mutex
	queue    []Turn
	requests []Request
	calls    int
}

// NewServer starts a server that is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	s := &Server{t: t, apiKey: APIKey}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to configure clients with (…/v1).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Enqueue adds answers, used in order.
func (s *Server) Enqueue(turns ...Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, turns...)
}

// Requests are the valid requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func writeError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": message, "type": errType, "param": nil, "code": nil}})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("openaitest serves only POST /v1/chat/completions, not %s %s", r.Method, r.URL.Path))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.apiKey {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	req, err := decodeRequest(body)
	if err == nil {
		err = validate(req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var turn Turn
	ok := len(s.queue) > 0
	if ok {
		turn, s.queue = s.queue[0], s.queue[1:]
	}
	s.calls++
	id := fmt.Sprintf("chatcmpl-test%04d", s.calls)
	responder := s.responder
	s.mu.Unlock()
	if !ok && responder != nil {
		turn, ok = responder(req), true
	}
	if !ok {
		msg := fmt.Sprintf("openaitest: no scripted turn left for request %d", len(s.Requests()))
		s.t.Errorf("%s", msg)
		writeError(w, http.StatusInternalServerError, "server_error", msg)
		return
	}
	if turn.status != 0 {
		if turn.retryAfter > 0 {
			w.Header().Set("retry-after", strconv.FormatFloat(turn.retryAfter.Seconds(), 'f', -1, 64))
		}
		writeError(w, turn.status, turn.errType, turn.errMsg)
		return
	}
	s.stream(w, turn, frames(id, req, turn))
}

// stream writes the frames, applying the turn's stream fault.
func (s *Server) stream(w http.ResponseWriter, turn Turn, frames [][]byte) {
	w.Header().Set("content-type", "text/event-stream")
	w.Header().Set("cache-control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	write := func(b []byte) {
		_, _ = w.Write(b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	for i, f := range frames {
		if turn.cutAfter > 0 && i == turn.cutAfter {
			// Drop the connection mid-stream, as a broken network would.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return
		}
		if turn.errAfter > 0 && i == turn.errAfter {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": turn.errMsg, "type": turn.errType, "code": nil}})
			write(fmt.Appendf(nil, "data: %s\n\n", b))
			return
		}
		write(f)
	}
}

// frames renders a turn as the endpoint streams it.
func frames(id string, req Request, turn Turn) [][]byte {
	created := time.Now().Unix()
	chunk := func(choices any, usage any) []byte {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_test", "choices": choices}
		if usage != nil {
			c["usage"] = usage
		}
		b, _ := json.Marshal(c)
		return fmt.Appendf(nil, "data: %s\n\n", b)
	}
	delta := func(d map[string]any, finish any) []map[string]any {
		return []map[string]any{{"index": 0, "delta": d, "logprobs": nil, "finish_reason": finish}}
	}
	var out [][]byte
	out = append(out, chunk(delta(map[string]any{"role": "assistant", "content": ""}, nil), nil))
	toolIndex := 0
	hasTool := false
	for _, b := range turn.Blocks {
		if b.Name == "" {
			for _, piece := range split(b.Text, textChunkRunes) {
				out = append(out, chunk(delta(map[string]any{"content": piece}, nil), nil))
			}
			continue
		}
		hasTool = true
		callID := b.ID
		if callID == "" {
			callID = fmt.Sprintf("call_%s_%d", id[len(id)-4:], toolIndex)
		}
		first := map[string]any{"index": toolIndex, "id": callID, "type": "function", "function": map[string]any{"name": b.Name, "arguments": ""}}
		out = append(out, chunk(delta(map[string]any{"tool_calls": []any{first}}, nil), nil))
		for _, piece := range split(b.Arguments, argsChunkRunes) {
			frag := map[string]any{"index": toolIndex, "function": map[string]any{"arguments": piece}}
			out = append(out, chunk(delta(map[string]any{"tool_calls": []any{frag}}, nil), nil))
		}
		toolIndex++
	}
	finish := turn.FinishReason
	if finish == "" {
		finish = "stop"
		if hasTool {
			finish = "tool_calls"
		}
	}
	out = append(out, chunk(delta(map[string]any{}, finish), nil))
	if req.IncludeUsage {
		p, c := turn.PromptTokens, turn.CompletionTokens
		if p == 0 && c == 0 {
			p, c = DefaultPromptTokens, DefaultCompletionTokens
		}
		out = append(out, chunk([]any{}, map[string]any{"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
	}
	out = append(out, []byte("data: [DONE]\n\n"))
	return out
}

// split cuts s into pieces of at most n runes.
func split(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}
