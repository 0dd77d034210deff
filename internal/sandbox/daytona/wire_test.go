package daytona

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// Wire-level tests against small handlers, for what the fake Daytona does
// not cover: exact retry waits, error sentences, request bodies, list
// shapes, and what DialPort hands its caller.

const testKey = "dtn_wire_secret_key"

// sleeps records the waits of a Provider instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newWire starts h as Daytona's API and returns a provider for it whose
// waits are recorded, not slept.
func newWire(t *testing.T, h http.Handler, mod func(*Config)) (*Provider, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	cfg := Config{APIURL: srv.URL + "/api", APIKey: testKey, Sleep: s.sleep}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func nestError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, map[string]any{"path": r.URL.Path, "timestamp": "2026-01-01T00:00:00Z", "statusCode": status, "error": http.StatusText(status), "message": msg})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "API key is required"},
		{"bad url", Config{APIKey: "k", APIURL: "::not a url"}, "DAYTONA_API_URL"},
		{"not http", Config{APIKey: "k", APIURL: "ftp://x/api"}, "must be an http(s) URL"},
		{"workspace escapes", Config{APIKey: "k", Workspace: "../x"}, "workspace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	p, err := New(Config{APIKey: "k"})
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if got := p.apiURL.String(); got != DefaultAPIURL {
		t.Errorf("default API URL = %q, want %q", got, DefaultAPIURL)
	}
	if p.Name() != "daytona" {
		t.Errorf("Name() = %q", p.Name())
	}
}

func TestErrorSentences(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		msg      string
		header   http.Header
		want     []string
		notFound bool
	}{
		{name: "401", status: 401, msg: "Invalid credentials", want: []string{"Daytona rejected the API key (DAYTONA_API_KEY)", "Invalid credentials"}},
		{name: "403", status: 403, msg: "Forbidden resource", want: []string{"Daytona refused access", "Forbidden resource"}},
		{name: "404", status: 404, msg: "Sandbox with ID x not found", want: []string{"no such resource", "Sandbox with ID x not found", "GET /sandbox/x"}, notFound: true},
		{name: "409", status: 409, msg: "Sandbox with name a already exists", want: []string{"conflict", "already exists"}},
		{name: "429", status: 429, msg: "Rate limit exceeded", header: http.Header{"Retry-After-Sandbox-Create": {"90"}},
			want: []string{"Daytona rate limited the request (sandbox-create limit); retry after 1m30s"}},
		{name: "400 quota", status: 400, msg: "Total CPU limit exceeded. Maximum allowed: 10.", want: []string{"Daytona quota exceeded: Total CPU limit exceeded. Maximum allowed: 10."}},
		{name: "400 other", status: 400, msg: "Cannot specify Sandbox resources when using a snapshot", want: []string{"Daytona rejected the request: Cannot specify Sandbox resources"}},
		{name: "500", status: 500, msg: "Internal server error", want: []string{"Daytona server error 500: Internal server error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				nestError(w, r, tt.status, tt.msg)
			}), nil)
			var out sandboxDTO
			err := p.api(t.Context(), http.MethodGet, "/sandbox/x", nil, nil, &out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if got := errors.Is(err, sandbox.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	p, s := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			nestError(w, r, 401, "Unauthorized")
			return
		}
		if n <= 2 {
			w.Header().Set("X-RateLimit-Remaining-sandbox-create", "0")
			w.Header().Set("Retry-After-sandbox-create", "7")
			nestError(w, r, 429, "ThrottlerException: Too Many Requests")
			return
		}
		writeJSON(w, 200, map[string]any{"id": "sb1", "state": "started", "toolboxProxyUrl": "http://127.0.0.1:1/toolbox"})
	}), nil)
	var out sandboxDTO
	if err := p.api(t.Context(), http.MethodPost, "/sandbox", nil, map[string]string{}, &out); err != nil {
		t.Fatalf("api: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{7 * time.Second, 7 * time.Second}, s.all()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if calls != 3 || out.ID != "sb1" {
		t.Errorf("calls = %d, id = %q; want 3 calls and sb1", calls, out.ID)
	}
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		status    int
		header    http.Header
		wantCalls int
	}{
		{"503 retried for POST", http.MethodPost, 503, nil, maxAttempts},
		{"500 retried for GET", http.MethodGet, 500, nil, maxAttempts},
		{"500 not retried for POST", http.MethodPost, 500, nil, 1},
		{"400 not retried", http.MethodGet, 400, nil, 1},
		{"429 asking too long is not waited for", http.MethodPost, 429, http.Header{"Retry-After": {"3600"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			p, s := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				nestError(w, r, tt.status, "nope")
			}), nil)
			err := p.api(t.Context(), tt.method, "/sandbox", nil, nil, nil)
			if !isStatus(err, tt.status) {
				t.Fatalf("err = %v, want an APIError %d", err, tt.status)
			}
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			waits := s.all()
			if len(waits) != tt.wantCalls-1 {
				t.Fatalf("waits = %v, want %d", waits, tt.wantCalls-1)
			}
			for i := 1; i < len(waits); i++ {
				if waits[i] <= waits[i-1]*5/8 || waits[i] > maxDelay {
					t.Errorf("waits %v do not back off exponentially up to %s", waits, maxDelay)
				}
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, _ := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nestError(w, r, 503, "down")
	}), func(c *Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return ctx.Err()
		}
	})
	err := p.api(ctx, http.MethodGet, "/sandbox", nil, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// createServer answers POST /sandbox, records the body, and serves the
// sandbox's state from states, one per GET.
type createServer struct {
	mu     sync.Mutex
	body   map[string]any
	states []string
	gets   int
	reason string
	tb     *httptest.Server
	folder string
	execs  []string
}

func (c *createServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dto := func(state string) map[string]any {
		return map[string]any{"id": "sb1", "state": state, "errorReason": c.reason, "toolboxProxyUrl": c.tb.URL + "/toolbox",
			"labels": c.body["labels"], "createdAt": "2026-11-23T10:00:00.000Z"}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/sandbox":
		_ = json.NewDecoder(r.Body).Decode(&c.body)
		writeJSON(w, 200, dto(c.states[0]))
	case r.Method == http.MethodGet && r.URL.Path == "/api/sandbox/sb1":
		c.gets++
		writeJSON(w, 200, dto(c.states[min(c.gets, len(c.states)-1)]))
	case r.Method == http.MethodDelete && r.URL.Path == "/api/sandbox/sb1":
		c.states = []string{"destroyed"}
		writeJSON(w, 200, dto("destroying"))
	case r.URL.Path == "/toolbox/sb1/work-dir":
		writeJSON(w, 200, map[string]string{"dir": "/home/daytona"})
	case r.URL.Path == "/toolbox/sb1/files/folder":
		c.folder = r.URL.Query().Get("path")
		w.WriteHeader(201)
	case r.Method == http.MethodPost && r.URL.Path == "/toolbox/sb1/process/execute":
		var in struct{ Command string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		c.execs = append(c.execs, in.Command)
		writeJSON(w, 200, map[string]any{"exitCode": 0, "result": ""})
	default:
		nestError(w, r, 404, "no route "+r.Method+" "+r.URL.Path)
	}
}

func newCreateServer(t *testing.T, states ...string) *createServer {
	c := &createServer{states: states}
	c.tb = httptest.NewServer(c)
	t.Cleanup(c.tb.Close)
	return c
}

func TestCreateRequestAndLabels(t *testing.T) {
	c := newCreateServer(t, "creating", "creating", "started")
	p, s := newWire(t, c, func(cfg *Config) {
		cfg.Snapshot, cfg.Target = "qv-node", "eu"
		cfg.AutoStop, cfg.AutoArchive, cfg.AutoDelete = 30*time.Minute, 90*time.Second, -1
	})
	info, err := p.Create(t.Context(), sandbox.Spec{Labels: map[string]string{"project": "p1", "user": "u1"}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	wantBody := map[string]any{
		"snapshot": "qv-node", "target": "eu", "public": false, "env": map[string]any{},
		"labels":           map[string]any{"quickvibe.project": "p1", "quickvibe.user": "u1", "quickvibe.managed": "true", "code-toolbox-language": "typescript"},
		"autoStopInterval": 30.0, "autoArchiveInterval": 2.0, "autoDeleteInterval": -1.0,
	}
	if diff := cmp.Diff(wantBody, c.body); diff != "" {
		t.Errorf("create body (-want +got):\n%s", diff)
	}
	want := sandbox.Info{ID: "sb1", State: sandbox.StateRunning, Labels: map[string]string{"project": "p1", "user": "u1"},
		CreatedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	if c.folder != "/home/daytona/workspace" {
		t.Errorf("workspace folder = %q", c.folder)
	}
	if len(c.execs) != 1 || !strings.Contains(c.execs[0], "/home/daytona/.quickvibe/bin/qv-serve") {
		t.Errorf("commands run at create = %q; want one installing the qv-serve stand-in", c.execs)
	}
	if diff := cmp.Diff([]time.Duration{pollFirst, pollFirst}, s.all()); diff != "" {
		t.Errorf("poll waits (-want +got):\n%s", diff)
	}
}

func TestCreateFailsOnErrorState(t *testing.T) {
	for _, state := range []string{"error", "build_failed"} {
		t.Run(state, func(t *testing.T) {
			c := newCreateServer(t, "creating", state)
			c.reason = "no capacity in region eu"
			p, _ := newWire(t, c, nil)
			_, err := p.Create(t.Context(), sandbox.Spec{})
			if err == nil || !strings.Contains(err.Error(), "no capacity in region eu") || !strings.Contains(err.Error(), state) {
				t.Fatalf("Create error = %v, want it to name the state and the reason", err)
			}
			if c.states[0] != "destroyed" {
				t.Errorf("the failed sandbox was not deleted")
			}
		})
	}
}

func TestWaitPollingGrowsAndTimesOut(t *testing.T) {
	c := newCreateServer(t, "creating")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	p, _ := newWire(t, c, func(cfg *Config) {
		cfg.Now = func() time.Time { return now }
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			now = now.Add(d)
			return nil
		}
	})
	_, err := p.Create(t.Context(), sandbox.Spec{})
	if err == nil || !strings.Contains(err.Error(), "still creating after 1m0s") {
		t.Fatalf("Create error = %v, want a timeout naming the state", err)
	}
	if waits[0] != pollFirst || waits[len(waits)-1] != pollMax {
		t.Errorf("waits go from %s to %s, want %s to %s", waits[0], waits[len(waits)-1], pollFirst, pollMax)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Fatalf("wait %d shrank: %v", i, waits)
		}
	}
}

func TestStateMapping(t *testing.T) {
	tests := map[string]sandbox.State{
		"started": sandbox.StateRunning, "resizing": sandbox.StateRunning,
		"stopped": sandbox.StateStopped, "archived": sandbox.StateStopped, "stopping": sandbox.StateStopped,
		"archiving": sandbox.StateStopped, "creating": sandbox.StateStopped, "error": sandbox.StateStopped,
	}
	for in, want := range tests {
		if got, ok := stateOf(in); !ok || got != want {
			t.Errorf("stateOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, gone := range []string{"destroyed", "destroying"} {
		_, err := sandboxDTO{ID: "x", State: gone}.info()
		if !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("state %s: err = %v, want ErrNotFound", gone, err)
		}
	}
}

func TestListShapesAndPaging(t *testing.T) {
	item := func(id string, managed bool) map[string]any {
		labels := map[string]string{"quickvibe.project": "p-" + id}
		if managed {
			labels["quickvibe.managed"] = "true"
		}
		return map[string]any{"id": id, "state": "stopped", "labels": labels}
	}
	tests := []struct {
		name  string
		pages map[string]any // by cursor
		want  []string
	}{
		{"cursor pages", map[string]any{
			"":   map[string]any{"items": []any{item("a", true), item("b", true)}, "nextCursor": "c2"},
			"c2": map[string]any{"items": []any{item("c", true)}, "nextCursor": nil},
		}, []string{"a", "b", "c"}},
		{"legacy array, unfiltered", map[string]any{
			"": []any{item("a", true), item("x", false)},
		}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.URL.Query().Get("labels"); got != `{"quickvibe.managed":"true"}` {
					nestError(w, r, 400, "labels filter "+got)
					return
				}
				writeJSON(w, 200, tt.pages[r.URL.Query().Get("cursor")])
			}), nil)
			infos, err := p.List(t.Context())
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var ids []string
			for _, in := range infos {
				ids = append(ids, in.ID)
				if in.Labels["project"] != "p-"+in.ID {
					t.Errorf("labels of %s = %v", in.ID, in.Labels)
				}
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDemux(t *testing.T) {
	out, errm := "\x01\x01\x01", "\x02\x02\x02"
	tests := []struct {
		name  string
		in    string
		flush bool
		want  []logLine
	}{
		{"plain", "a\nb\n", false, []logLine{{"stdout", "a"}, {"stdout", "b"}}},
		{"streams", out + "one\n" + errm + "two\n" + out + "three\n", false,
			[]logLine{{"stdout", "one"}, {"stderr", "two"}, {"stdout", "three"}}},
		{"lines interleaved across chunks", out + "par" + errm + "err\n" + out + "tial\n", false,
			[]logLine{{"stderr", "err"}, {"stdout", "partial"}}},
		{"unterminated kept without flush", out + "done\nhalf", false, []logLine{{"stdout", "done"}}},
		{"unterminated with flush", out + "done\nhalf", true, []logLine{{"stdout", "done"}, {"stdout", "half"}}},
		{"crlf", out + "win\r\n", false, []logLine{{"stdout", "win"}}},
		{"lone marker bytes are text", out + "a\x01b\n", false, []logLine{{"stdout", "a\x01b"}}},
		{"system note", out + "listening\n" + systemMark + "exited with code 1\n", false,
			[]logLine{{"stdout", "listening"}, {"system", "exited with code 1"}}},
		{"system note after unterminated output", out + "no newline" + systemMark + "restarted\n", false,
			[]logLine{{"stdout", "no newline"}, {"system", "restarted"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every split into two writes must give the same lines.
			for cut := 0; cut <= len(tt.in); cut++ {
				var got []logLine
				d := newDemux(func(s, l string) error {
					got = append(got, logLine{s, l})
					return nil
				})
				if err := d.write([]byte(tt.in[:cut])); err != nil {
					t.Fatal(err)
				}
				if err := d.write([]byte(tt.in[cut:])); err != nil {
					t.Fatal(err)
				}
				if tt.flush {
					_ = d.flush()
				}
				if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(logLine{})); diff != "" {
					t.Fatalf("cut at %d (-want +got):\n%s", cut, diff)
				}
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	exit := func(c int) *int { return &c }
	sys := func(l string) logLine { return logLine{"system", l} }
	outl := func(l string) logLine { return logLine{"stdout", l} }
	tests := []struct {
		name  string
		cmd   commandDTO
		lines []logLine
		want  sandbox.ProcessStatus
	}{
		{"running", commandDTO{ID: "c"}, []logLine{outl("up")},
			sandbox.ProcessStatus{Name: "p", Running: true, OutputTail: "up\n"}},
		{"exited", commandDTO{ID: "c", ExitCode: exit(3)}, []logLine{outl("bye"), sys("exited with code 3")},
			sandbox.ProcessStatus{Name: "p", ExitCode: 3, OutputTail: "bye\n"}},
		{"supervised, between runs", commandDTO{ID: "c"}, []logLine{outl("a"), sys("exited with code 1; restarting in 1s"), sys("restarted"), outl("b"), sys("exited with code 2; restarting in 2s")},
			sandbox.ProcessStatus{Name: "p", ExitCode: 2, Restarts: 1, OutputTail: "a\nb\n"}},
		{"supervised, running again", commandDTO{ID: "c"}, []logLine{sys("exited with code 1; restarting in 1s"), sys("restarted"), outl("b")},
			sandbox.ProcessStatus{Name: "p", Running: true, Restarts: 1, OutputTail: "b\n"}},
		{"killed supervisor", commandDTO{ID: "c", ExitCode: exit(137)}, []logLine{outl("x")},
			sandbox.ProcessStatus{Name: "p", ExitCode: 137, OutputTail: "x\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, statusOf("p", tt.cmd, tt.lines)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUsage(t *testing.T) {
	got, err := parseUsage("noise\nqvusage 2048 250 7 100 10\n")
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Usage{MemoryBytes: 2 << 20, CPUTime: 2500 * time.Millisecond, PIDs: 7, DiskBytes: 10 << 10, Source: "procfs"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseUsage("qvusage x"); err == nil {
		t.Error("garbage parsed")
	}
}

// previewWire serves the API, the toolbox and a preview for DialPort.
type previewWire struct {
	mu       sync.Mutex
	token    string // the preview's current token
	handed   string // the token preview-url hands out
	inUse    bool
	previews int
	preview  *httptest.Server
	seenHost string
}

func (pw *previewWire) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	switch r.URL.Path {
	case "/api/sandbox/sb1":
		writeJSON(w, 200, map[string]any{"id": "sb1", "state": "started", "toolboxProxyUrl": "http://" + r.Host + "/toolbox"})
	case "/toolbox/sb1/work-dir":
		writeJSON(w, 200, map[string]string{"dir": "/home/daytona"})
	case "/toolbox/sb1/port/5173/in-use":
		writeJSON(w, 200, map[string]bool{"isInUse": pw.inUse})
	case "/api/sandbox/sb1/ports/5173/preview-url":
		pw.previews++
		writeJSON(w, 200, map[string]string{"sandboxId": "sb1", "url": pw.preview.URL, "token": pw.handed})
	default:
		nestError(w, r, 404, "no route")
	}
}

func (pw *previewWire) servePreview(w http.ResponseWriter, r *http.Request) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if r.Header.Get("X-Daytona-Preview-Token") != pw.token || r.Header.Get("X-Daytona-Skip-Preview-Warning") != "true" {
		http.Error(w, `{"statusCode":401,"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	pw.seenHost = r.Header.Get("X-Forwarded-Host")
	http.SetCookie(w, &http.Cookie{Name: "daytona-sandbox-auth-sb1", Value: pw.token})
	http.SetCookie(w, &http.Cookie{Name: "daytona-preview-page-accepted", Value: "true"})
	http.SetCookie(w, &http.Cookie{Name: "app", Value: "kept"})
	w.Header().Set("X-Daytona-Echo", pw.token)
	io.WriteString(w, "hello from the dev server at "+r.URL.Path)
}

func TestDialPortCarriesHTTPAndHidesCredentials(t *testing.T) {
	pw := &previewWire{token: "tok-new", handed: "tok-old", inUse: true}
	pw.preview = httptest.NewServer(http.HandlerFunc(pw.servePreview))
	t.Cleanup(pw.preview.Close)
	p, _ := newWire(t, pw, nil)

	if _, err := p.DialPort(t.Context(), "sb1", 80); err == nil || !strings.Contains(err.Error(), "3000-9999") {
		t.Errorf("DialPort(80) err = %v, want the port range refused", err)
	}
	pw.mu.Lock()
	pw.inUse = false
	pw.mu.Unlock()
	if _, err := p.DialPort(t.Context(), "sb1", 5173); !errors.Is(err, toolbox.ErrPortNotAnswering) {
		t.Errorf("DialPort with nothing listening err = %v, want ErrPortNotAnswering", err)
	}
	pw.mu.Lock()
	pw.inUse = true
	// The first link handed out is stale, as after a restart: the proxy
	// must fetch a fresh one once.
	pw.handed = "tok-old"
	pw.mu.Unlock()

	conn, err := p.DialPort(t.Context(), "sb1", 5173)
	if err != nil {
		t.Fatalf("DialPort: %v", err)
	}
	defer conn.Close()
	pw.mu.Lock()
	pw.handed = "tok-new"
	pw.mu.Unlock()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://5173-sb1.preview.localhost/index.html", nil)
	if err := req.Write(conn); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(raw) != "hello from the dev server at /index.html" {
		t.Fatalf("response %d %q", resp.StatusCode, raw)
	}
	var dump strings.Builder
	_ = resp.Header.Write(&dump)
	dump.Write(raw)
	for _, secret := range []string{"tok-new", "tok-old", testKey, "daytona"} {
		if strings.Contains(strings.ToLower(dump.String()), strings.ToLower(secret)) {
			t.Errorf("the response handed to the caller contains %q:\n%s", secret, dump.String())
		}
	}
	if got := resp.Header.Get("Set-Cookie"); got != "app=kept" {
		t.Errorf("Set-Cookie = %q, want only the app's cookie", got)
	}
	if pw.seenHost != "5173-sb1.preview.localhost" {
		t.Errorf("X-Forwarded-Host = %q, want the caller's host", pw.seenHost)
	}
	if pw.previews != 2 {
		t.Errorf("preview URL fetched %d times, want 2 (first, then once refreshed after a 401)", pw.previews)
	}
}

func TestSignedPreviewURL(t *testing.T) {
	var got url.Values
	p, _ := newWire(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		writeJSON(w, 200, map[string]any{"sandboxId": "sb1", "port": 5173, "token": "abcd", "url": "https://5173-abcd.proxy.example"})
	}), nil)
	u, err := p.SignedPreviewURL(t.Context(), "sb1", 5173, 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if u != "https://5173-abcd.proxy.example" || got.Get("expiresInSeconds") != "5400" {
		t.Errorf("url %q, expiresInSeconds %q", u, got.Get("expiresInSeconds"))
	}
	if _, err := p.SignedPreviewURL(t.Context(), "sb1", 5173, 48*time.Hour); err == nil {
		t.Error("a 48h lifetime was accepted")
	}
}

func TestDialPortCarriesWebSocketUpgrades(t *testing.T) {
	pw := &previewWire{token: "tok", handed: "tok", inUse: true}
	pw.preview = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Daytona-Preview-Token") != "tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		typ, data, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		_ = ws.Write(r.Context(), typ, append([]byte("echo: "), data...))
		ws.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(pw.preview.Close)
	p, _ := newWire(t, pw, nil)

	// The preview proxy dials the sandbox port for every connection, as
	// QuickVibe's preview proxy does for hot reload.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return p.DialPort(ctx, "sb1", 5173)
	}}}
	ws, _, err := websocket.Dial(t.Context(), "ws://5173-sb1.preview.localhost/@vite/hmr", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("WebSocket through DialPort: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(t.Context(), websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_, got, err := ws.Read(t.Context())
	if err != nil || string(got) != "echo: ping" {
		t.Fatalf("read %q, %v; want the echo", got, err)
	}
}

func TestIdleIntervals(t *testing.T) {
	tests := []struct {
		name                   string
		stop, archive, autoDel time.Duration
		want                   map[string]any
	}{
		{"defaults left to Daytona", 0, 0, 0, map[string]any{}},
		{"off", -1, -1, -1, map[string]any{"autoStopInterval": 0.0, "autoArchiveInterval": 0.0, "autoDeleteInterval": -1.0}},
		{"rounded up to minutes", 30 * time.Minute, 61 * time.Second, 24 * time.Hour,
			map[string]any{"autoStopInterval": 30.0, "autoArchiveInterval": 2.0, "autoDeleteInterval": 1440.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCreateServer(t, "started")
			p, _ := newWire(t, c, func(cfg *Config) { cfg.AutoStop, cfg.AutoArchive, cfg.AutoDelete = tt.stop, tt.archive, tt.autoDel })
			if _, err := p.Create(t.Context(), sandbox.Spec{}); err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			for k, v := range c.body {
				if strings.HasPrefix(k, "auto") {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("intervals sent (-want +got):\n%s", diff)
			}
		})
	}
}
