package anthropictest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const simpleBody = `{"model":"claude-test","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func post(t *testing.T, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", Version)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rawFrame is one SSE frame parsed strictly: "event: X\ndata: {json}\n\n".
type rawFrame struct {
	Event string
	Data  string
}

var frameRE = regexp.MustCompile(`\Aevent: ([a-z_]+)\ndata: ([^\n]+)\n\n`)

// parseFrames parses a whole stream and fails on any byte that is not part
// of a well-formed frame, or on a frame whose data type differs from its event.
func parseFrames(t *testing.T, stream string) []rawFrame {
	t.Helper()
	var frames []rawFrame
	for stream != "" {
		m := frameRE.FindStringSubmatch(stream)
		if m == nil {
			t.Fatalf("malformed stream at %q", stream)
		}
		var typed struct{ Type string }
		if err := json.Unmarshal([]byte(m[2]), &typed); err != nil {
			t.Fatalf("frame data is not JSON: %q: %v", m[2], err)
		}
		if typed.Type != m[1] {
			t.Errorf("frame event %q has data type %q", m[1], typed.Type)
		}
		frames = append(frames, rawFrame{Event: m[1], Data: m[2]})
		stream = stream[len(m[0]):]
	}
	return frames
}

func TestStreamFramesExactly(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.Enqueue(Reply(Text("Hello world"), ToolUse("write_file", map[string]string{"path": "index.html"}).WithID("toolu_a")).
		WithUsage(Usage{InputTokens: 50, OutputTokens: 30, CacheCreationInputTokens: 7, CacheReadInputTokens: 3}))

	resp := post(t, s.URL(), APIKey, simpleBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got := resp.Header.Get("content-type"); got != "text/event-stream" {
		t.Errorf("content-type = %q", got)
	}
	if got := resp.Header.Get("request-id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("request-id = %q", got)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := []rawFrame{
		{"message_start", `{"type":"message_start","message":{"id":"msg_test_0001","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":50,"cache_creation_input_tokens":7,"cache_read_input_tokens":3,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type":"ping"}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" worl"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"d"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"write_file","input":{}}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"ind"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ex.html\"}"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":1}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":50,"cache_creation_input_tokens":7,"cache_read_input_tokens":3,"output_tokens":30}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}
	if diff := cmp.Diff(want, parseFrames(t, string(body))); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		turn     Turn
		wantStop string
		// wantEvents lists the frames' events in order.
		wantEvents []string
	}{
		{
			name:     "text only ends the turn",
			turn:     Reply(Text("ok")),
			wantStop: "end_turn",
			wantEvents: []string{"message_start", "content_block_start", "ping", "content_block_delta",
				"content_block_stop", "message_delta", "message_stop"},
		},
		{
			name:       "no blocks still pings",
			turn:       Reply(),
			wantStop:   "end_turn",
			wantEvents: []string{"message_start", "ping", "message_delta", "message_stop"},
		},
		{
			name:     "explicit stop reason",
			turn:     Reply(Text("cut")).WithStopReason("max_tokens"),
			wantStop: "max_tokens",
			wantEvents: []string{"message_start", "content_block_start", "ping", "content_block_delta",
				"content_block_stop", "message_delta", "message_stop"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.Enqueue(tt.turn)
			body, _ := io.ReadAll(post(t, s.URL(), APIKey, simpleBody).Body)
			frames := parseFrames(t, string(body))
			var events []string
			for _, f := range frames {
				events = append(events, f.Event)
			}
			if diff := cmp.Diff(tt.wantEvents, events); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			var md struct {
				Delta struct {
					StopReason string `json:"stop_reason"`
				}
				Usage struct {
					InputTokens  int64 `json:"input_tokens"`
					OutputTokens int64 `json:"output_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(frames[len(frames)-2].Data), &md); err != nil {
				t.Fatal(err)
			}
			if md.Delta.StopReason != tt.wantStop {
				t.Errorf("stop_reason = %q, want %q", md.Delta.StopReason, tt.wantStop)
			}
			if md.Usage.InputTokens != DefaultInputTokens || md.Usage.OutputTokens != DefaultOutputTokens {
				t.Errorf("usage = %+v, want defaults", md.Usage)
			}
		})
	}
}

func TestSplitKeepsRunesWhole(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	text := "héllo wörld — ünïcödé ✓✓✓"
	s.Enqueue(Reply(Text(text), ToolUse("write_file", map[string]string{"content": "ça va? ✓ 日本語テキスト"})))
	body, _ := io.ReadAll(post(t, s.URL(), APIKey, simpleBody).Body)
	var gotText, gotJSON strings.Builder
	textDeltas := 0
	for _, f := range parseFrames(t, string(body)) {
		if f.Event != "content_block_delta" {
			continue
		}
		var d struct {
			Delta struct {
				Type, Text  string
				PartialJSON string `json:"partial_json"`
			}
		}
		if err := json.Unmarshal([]byte(f.Data), &d); err != nil {
			t.Fatal(err)
		}
		for _, piece := range []string{d.Delta.Text, d.Delta.PartialJSON} {
			if !utf8.ValidString(piece) || strings.ContainsRune(piece, utf8.RuneError) {
				t.Errorf("delta %q is not whole runes", piece)
			}
		}
		if d.Delta.Type == "text_delta" {
			textDeltas++
		}
		gotText.WriteString(d.Delta.Text)
		gotJSON.WriteString(d.Delta.PartialJSON)
	}
	if gotText.String() != text {
		t.Errorf("text = %q, want %q", gotText.String(), text)
	}
	if textDeltas < 2 {
		t.Errorf("text came in %d deltas, want several", textDeltas)
	}
	if want := `{"content":"ça va? ✓ 日本語テキスト"}`; gotJSON.String() != want {
		t.Errorf("input = %q, want %q", gotJSON.String(), want)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		key            string
		version        string
		path           string
		body           string
		turn           *Turn
		wantStatus     int
		wantType       string
		wantRetryAfter string
	}{
		{name: "wrong key", key: "sk-wrong", wantStatus: 401, wantType: "authentication_error"},
		{name: "no key", key: "", wantStatus: 401, wantType: "authentication_error"},
		{name: "wrong version", key: APIKey, version: "2020-01-01", wantStatus: 400, wantType: "invalid_request_error"},
		{name: "unknown path", key: APIKey, path: "/v1/complete", wantStatus: 404, wantType: "not_found_error"},
		{name: "not streaming", key: APIKey, body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "bad json", key: APIKey, body: `{"model":`, wantStatus: 400, wantType: "invalid_request_error"},
		{
			name: "scripted overload with retry-after", key: APIKey,
			turn:       new(HTTPError(529, "overloaded_error", "Overloaded").WithRetryAfter(2 * time.Second)),
			wantStatus: 529, wantType: "overloaded_error", wantRetryAfter: "2",
		},
		{
			name: "tool_use without tool_result", key: APIKey,
			body:       `{"model":"m","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"x","input":{}}]},{"role":"user","content":"next"}]}`,
			wantStatus: 400, wantType: "invalid_request_error",
		},
		{
			name: "empty text block", key: APIKey,
			body:       `{"model":"m","max_tokens":1,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`,
			wantStatus: 400, wantType: "invalid_request_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			if tt.turn != nil {
				s.Enqueue(*tt.turn)
			}
			body := tt.body
			if body == "" {
				body = simpleBody
			}
			path := tt.path
			if path == "" {
				path = "/v1/messages"
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+path, strings.NewReader(body))
			version := tt.version
			if version == "" {
				version = Version
			}
			req.Header.Set("anthropic-version", version)
			req.Header.Set("x-api-key", tt.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("content-type"); got != "application/json" {
				t.Errorf("content-type = %q", got)
			}
			if got := resp.Header.Get("retry-after"); got != tt.wantRetryAfter {
				t.Errorf("retry-after = %q, want %q", got, tt.wantRetryAfter)
			}
			var eb errorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatal(err)
			}
			if eb.Type != "error" || eb.Error.Type != tt.wantType || eb.Error.Message == "" || eb.RequestID != resp.Header.Get("request-id") {
				t.Errorf("body = %+v, want an error of type %s with a message and the request id", eb, tt.wantType)
			}
		})
	}
}

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	turn := Reply(Text("Hello world"))
	tests := []struct {
		name       string
		turn       Turn
		wantEvents []string
		wantErr    error
	}{
		{
			name:       "stream error after message_start",
			turn:       StreamError("overloaded_error", "Overloaded"),
			wantEvents: []string{"message_start", "error"},
		},
		{
			name:       "stream error after three frames",
			turn:       turn.StreamErrorAfter(3, "api_error", "boom"),
			wantEvents: []string{"message_start", "content_block_start", "ping", "error"},
		},
		{
			name:       "cut drops the connection",
			turn:       turn.CutAfter(4),
			wantEvents: []string{"message_start", "content_block_start", "ping", "content_block_delta"},
			wantErr:    io.ErrUnexpectedEOF,
		},
		{
			name:       "end closes cleanly without message_stop",
			turn:       turn.EndAfter(5),
			wantEvents: []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.Enqueue(tt.turn)
			resp := post(t, s.URL(), APIKey, simpleBody)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			body, err := io.ReadAll(resp.Body)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("read error = %v, want %v", err, tt.wantErr)
			}
			var events []string
			frames := parseFrames(t, string(body))
			for _, f := range frames {
				events = append(events, f.Event)
			}
			if diff := cmp.Diff(tt.wantEvents, events); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			if last := frames[len(frames)-1]; last.Event == "error" {
				var eb errorBody
				if err := json.Unmarshal([]byte(last.Data), &eb); err != nil || eb.Error.Type == "" || eb.Error.Message == "" {
					t.Errorf("error frame %s lacks type or message (%v)", last.Data, err)
				}
			}
		})
	}
}

// recordingTB catches the Errorf a server reports when it runs out of turns.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestOutOfTurnsFailsLoudly(t *testing.T) {
	t.Parallel()
	tb := &recordingTB{TB: t}
	s := NewServer(tb)
	resp := post(t, s.URL(), APIKey, simpleBody)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	var eb errorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(eb.Error.Message, "no scripted turn left") {
		t.Errorf("message = %q", eb.Error.Message)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errs) != 1 {
		t.Errorf("server reported %d test errors, want 1: %q", len(tb.errs), tb.errs)
	}
}

func TestQueueThenResponder(t *testing.T) {
	t.Parallel()
	calls := 0
	s := NewServer(t, WithResponder(func(req Request) Turn {
		calls++
		return Reply(Text(fmt.Sprintf("responder %d for %s", calls, req.Model)))
	}))
	s.Enqueue(Reply(Text("queued")))
	var got []string
	for range 3 {
		body, _ := io.ReadAll(post(t, s.URL(), APIKey, simpleBody).Body)
		var text strings.Builder
		for _, f := range parseFrames(t, string(body)) {
			var d struct{ Delta struct{ Text string } }
			_ = json.Unmarshal([]byte(f.Data), &d)
			text.WriteString(d.Delta.Text)
		}
		got = append(got, text.String())
	}
	want := []string{"queued", "responder 1 for claude-test", "responder 2 for claude-test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers mismatch (-want +got):\n%s", diff)
	}
}

func TestToolUseIDsAreAssigned(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.Enqueue(Reply(ReadFile("a"), ReadFile("b").WithID("toolu_mine"), ListFiles("")))
	body, _ := io.ReadAll(post(t, s.URL(), APIKey, simpleBody).Body)
	var ids, inputs []string
	for _, f := range parseFrames(t, string(body)) {
		var ev struct {
			ContentBlock struct{ Type, ID string } `json:"content_block"`
			Delta        struct {
				PartialJSON string `json:"partial_json"`
			}
		}
		_ = json.Unmarshal([]byte(f.Data), &ev)
		if f.Event == "content_block_start" {
			ids = append(ids, ev.ContentBlock.ID)
			inputs = append(inputs, "")
		}
		if f.Event == "content_block_delta" {
			inputs[len(inputs)-1] += ev.Delta.PartialJSON
		}
	}
	if diff := cmp.Diff([]string{"toolu_01", "toolu_mine", "toolu_02"}, ids); diff != "" {
		t.Errorf("ids mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`{"path":"a"}`, `{"path":"b"}`, `{}`}, inputs); diff != "" {
		t.Errorf("inputs mismatch (-want +got):\n%s", diff)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.Enqueue(Reply(Text("a")), Reply(Text("b")))
	first := `{"model":"m1","max_tokens":10,"stream":true,"system":"be brief",
		"tools":[{"name":"read_file","description":"Read a file.","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}],
		"messages":[{"role":"user","content":"hi"}]}`
	second := `{"model":"m1","max_tokens":10,"stream":true,"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],
		"messages":[
			{"role":"user","content":[{"type":"text","text":"hi"}]},
			{"role":"assistant","content":[{"type":"text","text":"reading"},{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path": "a"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[{"type":"text","text":"no such file"}]}]}]}`
	post(t, s.URL(), APIKey, first)
	post(t, s.URL(), APIKey, second)

	want := []Request{
		{
			Model: "m1", MaxTokens: 10, Stream: true, System: "be brief",
			Tools:    []Tool{{Name: "read_file", Description: "Read a file.", InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)}},
			Messages: []Message{{Role: "user", Content: []Content{{Type: "text", Text: "hi"}}}},
		},
		{
			Model: "m1", MaxTokens: 10, Stream: true, System: "be brief",
			Messages: []Message{
				{Role: "user", Content: []Content{{Type: "text", Text: "hi"}}},
				{Role: "assistant", Content: []Content{
					{Type: "text", Text: "reading"},
					{Type: "tool_use", ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"a"}`)},
				}},
				{Role: "user", Content: []Content{{Type: "tool_result", ToolUseID: "toolu_1", IsError: true, Text: "no such file"}}},
			},
		},
	}
	if diff := cmp.Diff(want, s.Requests(), cmpopts.IgnoreFields(Request{}, "Raw")); diff != "" {
		t.Errorf("Requests() mismatch (-want +got):\n%s", diff)
	}
}
