// Package anthropictest is a test double of the Anthropic Messages API. It
// speaks the streaming wire format over real HTTP, so the real SDK client can
// be tested against it: scripted turns, HTTP and mid-stream faults, and a
// record of every request.
package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"
)

// Defaults of a Server.
const (
	// APIKey is the only x-api-key the server accepts unless WithAPIKey says otherwise.
	APIKey = "sk-ant-test-key"
	// Version is the anthropic-version header the server requires.
	Version = "2023-06-01"
)

// How finely the stream is cut: small enough that every text and every tool
// input of a test arrives in several deltas.
const (
	textChunkRunes = 5
	jsonChunkRunes = 12
)

// Server is a fake Messages API on an httptest server.
type Server struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string

	mu        sync.Mutex
	queue     []Turn
	responder func(Request) Turn
	requests  []Request
	httpSeq   int // HTTP requests served, for request ids
	msgSeq    int // messages streamed, for message ids
	toolSeq   int // tool uses streamed, for tool use ids
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the key the server accepts.
func WithAPIKey(key string) Option {
	return func(s *Server) { s.apiKey = key }
}

// WithResponder answers every request the queue of enqueued turns does not,
// e.g. to answer forever.
func WithResponder(f func(Request) Turn) Option {
	return func(s *Server) { s.responder = f }
}

// NewServer starts a server that is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, apiKey: APIKey}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to give the client.
func (s *Server) URL() string { return s.srv.URL }

// Enqueue adds turns that answer the next requests, one each, in order.
func (s *Server) Enqueue(turns ...Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, turns...)
}

// Requests returns every request body received so far, in order, including
// those answered with an error.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.httpSeq++
	reqID := fmt.Sprintf("req_test_%04d", s.httpSeq)
	s.mu.Unlock()
	w.Header().Set("request-id", reqID)

	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		writeError(w, reqID, http.StatusNotFound, "not_found_error", fmt.Sprintf("anthropictest serves only POST /v1/messages, not %s %s", r.Method, r.URL.Path))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, reqID, http.StatusBadRequest, "invalid_request_error", "read body: "+err.Error())
		return
	}
	req, decodeErr := decodeRequest(body)
	if decodeErr == nil {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}

	if r.Header.Get("x-api-key") != s.apiKey {
		writeError(w, reqID, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if v := r.Header.Get("anthropic-version"); v != Version {
		writeError(w, reqID, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("anthropic-version: header must be %q, got %q", Version, v))
		return
	}
	if decodeErr != nil {
		writeError(w, reqID, http.StatusBadRequest, "invalid_request_error", decodeErr.Error())
		return
	}
	if err := validate(req); err != nil {
		writeError(w, reqID, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}

	turn, n, ok := s.next(req)
	if !ok {
		msg := fmt.Sprintf("anthropictest: no scripted turn left for request %s (request body %d); Enqueue more turns or set a responder", reqID, n)
		s.t.Errorf("%s", msg)
		writeError(w, reqID, http.StatusInternalServerError, "api_error", msg)
		return
	}
	if turn.fault.kind == faultHTTP {
		f := turn.fault
		if f.hasRetryAfter {
			w.Header().Set("retry-after", strconv.FormatFloat(f.retryAfter.Seconds(), 'f', -1, 64))
		}
		writeError(w, reqID, f.status, f.errType, f.message)
		return
	}
	s.stream(w, turn, s.frames(turn, req.Model))
}

// next picks the answer to req: the queue first, then the responder. n counts
// the valid requests so far.
func (s *Server) next(req Request) (turn Turn, n int, ok bool) {
	s.mu.Lock()
	if len(s.queue) > 0 {
		turn, s.queue = s.queue[0], s.queue[1:]
		ok = true
	}
	responder := s.responder
	n = len(s.requests)
	s.mu.Unlock()
	if !ok && responder != nil {
		// Called without the lock so a responder may call Requests.
		turn, ok = responder(req), true
	}
	return turn, n, ok
}

type errorBody struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, reqID string, status int, errType, message string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Type: "error", Error: errorDetail{Type: errType, Message: message}, RequestID: reqID})
}

// frame is one SSE event.
type frame struct {
	event string
	data  []byte
}

func (f frame) bytes() []byte {
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", f.event, f.data)
}

// stream writes the frames, applying the turn's stream fault if any.
func (s *Server) stream(w http.ResponseWriter, turn Turn, frames []frame) {
	w.Header().Set("content-type", "text/event-stream")
	w.Header().Set("cache-control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	f := turn.fault
	for i, fr := range frames {
		if f.kind != faultNone && i == f.after {
			break
		}
		if _, err := w.Write(fr.bytes()); err != nil {
			return
		}
		// Flush every frame so the client sees a real stream, not one buffer.
		if err := rc.Flush(); err != nil {
			return
		}
	}
	switch f.kind {
	case faultStreamError:
		_, _ = w.Write(frame{event: "error", data: mustJSON(errorBody{Type: "error", Error: errorDetail{Type: f.errType, Message: f.message}})}.bytes())
		_ = rc.Flush()
	case faultCut:
		// Hijacking skips the final empty chunk, so the client reads an
		// unexpected EOF exactly as when a connection breaks.
		conn, _, err := rc.Hijack()
		if err != nil {
			s.t.Errorf("anthropictest: hijack to cut the stream: %v", err)
			return
		}
		_ = conn.Close()
	}
}

// Wire shapes of the stream events, fields in the API's order.
type (
	wireUsage struct {
		InputTokens              int64 `json:"input_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
	}
	wireMessageOut struct {
		ID           string    `json:"id"`
		Type         string    `json:"type"`
		Role         string    `json:"role"`
		Model        string    `json:"model"`
		Content      []any     `json:"content"`
		StopReason   *string   `json:"stop_reason"`
		StopSequence *string   `json:"stop_sequence"`
		Usage        wireUsage `json:"usage"`
	}
	messageStartEvent struct {
		Type    string         `json:"type"`
		Message wireMessageOut `json:"message"`
	}
	textBlockOut struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	toolUseBlockOut struct {
		Type  string         `json:"type"`
		ID    string         `json:"id"`
		Name  string         `json:"name"`
		Input map[string]any `json:"input"`
	}
	blockStartEvent struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock any    `json:"content_block"`
	}
	textDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	inputJSONDelta struct {
		Type        string `json:"type"`
		PartialJSON string `json:"partial_json"`
	}
	blockDeltaEvent struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}
	indexEvent struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	messageDelta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	messageDeltaEvent struct {
		Type  string       `json:"type"`
		Delta messageDelta `json:"delta"`
		Usage wireUsage    `json:"usage"`
	}
	typeEvent struct {
		Type string `json:"type"`
	}
)

// frames renders a turn as the API streams it: message_start, each block as
// start, deltas and stop (a ping after the first start), message_delta with
// the cumulative usage, message_stop.
func (s *Server) frames(turn Turn, model string) []frame {
	s.mu.Lock()
	s.msgSeq++
	msgID := fmt.Sprintf("msg_test_%04d", s.msgSeq)
	blocks := slices.Clone(turn.Blocks)
	for i := range blocks {
		if blocks[i].Type == "tool_use" && blocks[i].ID == "" {
			s.toolSeq++
			blocks[i].ID = fmt.Sprintf("toolu_%02d", s.toolSeq)
		}
	}
	s.mu.Unlock()

	usage := turn.Usage
	if usage == (Usage{}) {
		usage = Usage{InputTokens: DefaultInputTokens, OutputTokens: DefaultOutputTokens}
	}
	stop := turn.StopReason
	if stop == "" {
		stop = "end_turn"
		if turn.hasToolUse() {
			stop = "tool_use"
		}
	}

	var out []frame
	add := func(event string, v any) { out = append(out, frame{event: event, data: mustJSON(v)}) }
	ping := func() { add("ping", typeEvent{Type: "ping"}) }

	add("message_start", messageStartEvent{Type: "message_start", Message: wireMessageOut{
		ID: msgID, Type: "message", Role: "assistant", Model: model, Content: []any{},
		Usage: wireUsage{
			InputTokens:              usage.InputTokens,
			CacheCreationInputTokens: usage.CacheCreationInputTokens,
			CacheReadInputTokens:     usage.CacheReadInputTokens,
			OutputTokens:             min(1, usage.OutputTokens),
		},
	}})
	if len(blocks) == 0 {
		ping()
	}
	for i, b := range blocks {
		switch b.Type {
		case "tool_use":
			add("content_block_start", blockStartEvent{Type: "content_block_start", Index: i,
				ContentBlock: toolUseBlockOut{Type: "tool_use", ID: b.ID, Name: b.Name, Input: map[string]any{}}})
			if i == 0 {
				ping()
			}
			// The API's first input delta is empty; then the JSON text in pieces.
			for _, part := range append([]string{""}, split(string(b.Input), jsonChunkRunes)...) {
				add("content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: i,
					Delta: inputJSONDelta{Type: "input_json_delta", PartialJSON: part}})
			}
		default:
			add("content_block_start", blockStartEvent{Type: "content_block_start", Index: i,
				ContentBlock: textBlockOut{Type: "text", Text: ""}})
			if i == 0 {
				ping()
			}
			parts := split(b.Text, textChunkRunes)
			if len(parts) == 0 {
				parts = []string{""}
			}
			for _, part := range parts {
				add("content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: i,
					Delta: textDelta{Type: "text_delta", Text: part}})
			}
		}
		add("content_block_stop", indexEvent{Type: "content_block_stop", Index: i})
	}
	add("message_delta", messageDeltaEvent{Type: "message_delta",
		Delta: messageDelta{StopReason: stop},
		Usage: wireUsage{
			InputTokens:              usage.InputTokens,
			CacheCreationInputTokens: usage.CacheCreationInputTokens,
			CacheReadInputTokens:     usage.CacheReadInputTokens,
			OutputTokens:             usage.OutputTokens,
		}})
	add("message_stop", typeEvent{Type: "message_stop"})
	return out
}

// split cuts s into pieces of at most n runes, never inside a rune, so every
// piece is valid UTF-8 on its own.
func split(s string, n int) []string {
	var parts []string
	for len(s) > 0 {
		i, count := 0, 0
		for i < len(s) && count < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			count++
		}
		parts = append(parts, s[:i])
		s = s[i:]
	}
	return parts
}

// mustJSON marshals like the API: no HTML escaping.
func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("anthropictest: marshal %T: %v", v, err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
