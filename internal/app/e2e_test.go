package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/app"
	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

func TestMain(m *testing.M) {
	// Sandboxes run this test binary as their toolbox.
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// server is a real QuickVibe server on a loopback port.
type server struct {
	app     *app.App
	url     string
	port    int
	dataDir string
	stop    func()
}

// startServer boots the real app with env on top of test defaults. dataDir
// may be shared between servers to test restarts.
func startServer(t *testing.T, dataDir string, env map[string]string) *server {
	t.Helper()
	return startServerWith(t, dataDir, env, app.Options{Heartbeat: 200 * time.Millisecond})
}

// startServerWith is startServer with app options (a test clock, say).
func startServerWith(t *testing.T, dataDir string, env map[string]string, opts app.Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	vars := map[string]string{
		"QV_ADDR":       "127.0.0.1:" + strconv.Itoa(port),
		"QV_PUBLIC_URL": "http://localhost:" + strconv.Itoa(port),
		"QV_DATA_DIR":   dataDir,
		"QV_LOG_LEVEL":  "debug",
	}
	for k, v := range env {
		vars[k] = strings.ReplaceAll(v, "{port}", strconv.Itoa(port)) // e.g. a QV_PUBLIC_URL on another host name
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(t.Context(), cfg, logger, opts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return &server{app: a, url: "http://127.0.0.1:" + strconv.Itoa(port), port: port, dataDir: dataDir, stop: stop}
}

// testWriter sends server logs to the test log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func collect(t *testing.T, c *client.Client, runID string, after int64) []client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var evs []client.Event
	if err := c.StreamEvents(ctx, runID, after, func(e client.Event) error {
		evs = append(evs, e)
		return nil
	}); err != nil {
		t.Fatalf("StreamEvents(after %d): %v", after, err)
	}
	return evs
}

func progressStatuses(evs []client.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "progress" {
			var d struct{ Status string }
			_ = json.Unmarshal(e.Data, &d)
			out = append(out, d.Status)
		}
	}
	return out
}

// getPreview fetches a preview URL as its project's owner would: it asks
// the API for a signed preview URL (previews are private) and sends the
// token in the header, through the server's preview host routing, as a
// browser resolving *.localhost would. A sandbox no project owns is
// fetched without a token.
func getPreview(t *testing.T, s *server, previewURL string) (int, string) {
	t.Helper()
	u, err := url.Parse(previewURL)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	sandboxID, port, ok := s.app.Config().ParsePreviewHost(u.Host)
	if !ok {
		t.Fatalf("%s is not a preview URL", previewURL)
	}
	if p, err := s.app.Store.ProjectBySandboxID(t.Context(), sandboxID); err == nil {
		owner, err := s.app.Store.UserByID(t.Context(), p.UserID)
		if err != nil {
			t.Fatal(err)
		}
		apiToken, _, err := s.app.Auth.CreateAPIToken(t.Context(), owner, "preview "+rand.Text()[:6])
		if err != nil {
			t.Fatal(err)
		}
		sp, err := client.New(s.url, apiToken).PreviewURL(t.Context(), p.ID, port)
		if err != nil {
			t.Fatalf("preview URL of %s: %v", p.ID, err)
		}
		token = sp.Token
	}
	return getPreviewWith(t, s, previewURL, token)
}

// getPreviewWith fetches a preview URL with a preview token in the header
// ("" for none).
func getPreviewWith(t *testing.T, s *server, previewURL, token string) (int, string) {
	t.Helper()
	u, err := url.Parse(previewURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+u.RequestURI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = u.Host
	if token != "" {
		req.Header.Set("X-QV-Preview-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET preview %s: %v", previewURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

const calculatorHTML = `<!doctype html>
<html><head><title>Calculator</title></head>
<body class="dark"><h1>Dark Calculator</h1><button id="eq">=</button></body></html>
`

func TestPromptToPreviewEndToEnd(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(
			anthropictest.Text("I'll build a calculator with a dark theme."),
			anthropictest.WriteFile("index.html", calculatorHTML),
		),
		anthropictest.Reply(anthropictest.Text("Your calculator is ready.")),
	)
	s := startServer(t, t.TempDir(), map[string]string{
		"ANTHROPIC_API_KEY":  anthropictest.APIKey,
		"ANTHROPIC_BASE_URL": model.URL(),
	})
	ctx := t.Context()

	anon := client.New(s.url, "")
	st, err := anon.Status(ctx)
	if err != nil {
		t.Fatalf("status without credentials: %v", err)
	}
	if !st.SetupRequired || !st.Model.Configured || !st.Sandbox.Ready {
		t.Fatalf("status = %+v; want setup required, model configured, sandbox ready", st)
	}
	if _, err := anon.Projects(ctx); !isStatus(err, http.StatusUnauthorized) {
		t.Fatalf("projects without credentials: err = %v, want 401", err)
	}

	owner := client.New(s.url, "")
	if _, err := owner.Setup(ctx, "owner@example.com", "correct horse battery"); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if _, err := anon.Setup(ctx, "late@example.com", "another password"); !isStatus(err, http.StatusConflict) {
		t.Fatalf("second setup: err = %v, want 409", err)
	}
	token, err := owner.CreateToken(ctx, "e2e")
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	api := client.New(s.url, token) // bearer only, no cookie

	p, err := api.CreateProject(ctx, "Calculator", "website")
	if err != nil {
		t.Fatalf("create project: %v", err)
	}

	// POST the prompt and read the run's events from the same response.
	var evs []client.Event
	runID, err := api.PromptStream(ctx, p.ID, "a calculator with dark mode", func(e client.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatalf("prompt stream: %v", err)
	}
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.ID != strconv.Itoa(i+1) || e.RunID != runID || e.Name != e.Type {
			t.Fatalf("event %d = seq %d id %q run %q name %q type %q; want consecutive seq/id from 1 of run %s", i, e.Seq, e.ID, e.RunID, e.Name, e.Type, runID)
		}
	}
	last := evs[len(evs)-1]
	if last.Type != "complete" {
		t.Fatalf("last event = %s %s, want complete", last.Type, last.Data)
	}
	for _, e := range evs[:len(evs)-1] {
		if e.Terminal() {
			t.Fatalf("terminal event before the end: %s %s", e.Type, e.Data)
		}
	}
	want := []string{"creating", "initializing", "generating", "writing", "starting", "preview", "complete"}
	if diff := cmp.Diff(want, progressStatuses(evs)); diff != "" {
		t.Errorf("progress statuses (-want +got):\n%s", diff)
	}
	// The page replaces the website starter's index.html; of its lines only
	// the doctype stays.
	replaced := starterLines(t, "index.html")
	var text strings.Builder
	var sawTool, sawUser bool
	for _, e := range evs {
		switch e.Type {
		case "message":
			var d struct {
				Type, Content string
				Delta         bool
			}
			_ = json.Unmarshal(e.Data, &d)
			if d.Type == "user" && d.Content == "a calculator with dark mode" {
				sawUser = true
			}
			if d.Type == "assistant" && d.Delta {
				text.WriteString(d.Content)
			}
		case "tool":
			var d struct {
				Action, File             string
				LinesAdded, LinesRemoved int
			}
			_ = json.Unmarshal(e.Data, &d)
			if d.Action == "edit" && d.File == "index.html" && d.LinesAdded == 2 && d.LinesRemoved == replaced-1 {
				sawTool = true
			}
		}
	}
	if !sawUser {
		t.Error("no user message event")
	}
	if !sawTool {
		t.Errorf("no tool event for replacing index.html: +2 −%d lines", replaced-1)
	}
	if got := text.String(); !strings.Contains(got, "I'll build a calculator with a dark theme.") || !strings.Contains(got, "Your calculator is ready.") {
		t.Errorf("streamed assistant text = %q", got)
	}
	var done struct {
		Success    bool
		SandboxID  string
		PreviewURL string
	}
	if err := json.Unmarshal(last.Data, &done); err != nil {
		t.Fatal(err)
	}
	wantURL := "http://3000-" + done.SandboxID + ".preview.localhost:" + strconv.Itoa(s.port) + "/"
	if !done.Success || done.SandboxID == "" || done.PreviewURL != wantURL {
		t.Fatalf("complete = %+v; want success with preview URL %s", done, wantURL)
	}

	// The complete event carries the clean preview URL; the preview is
	// private, so it needs a signed token from the API.
	if code, body := getPreviewWith(t, s, done.PreviewURL, ""); code != http.StatusUnauthorized {
		t.Fatalf("preview without a token = %d %q; want 401", code, body)
	}
	code, body := getPreview(t, s, done.PreviewURL)
	if code != http.StatusOK || !strings.Contains(body, "Dark Calculator") {
		t.Fatalf("preview = %d %q; want 200 with the generated page", code, body)
	}

	// The project shows its sandbox, status and preview; files are listed and readable.
	got, err := api.Project(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SandboxID != done.SandboxID || got.Status != "ready" || got.PreviewURL != done.PreviewURL || got.SandboxState != "running" {
		t.Errorf("project = %+v; want sandbox %s, status ready, running, preview %s", got, done.SandboxID, done.PreviewURL)
	}
	files, err := api.Files(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !containsFile(files, "index.html") {
		t.Errorf("files = %+v; want index.html", files)
	}
	content, err := api.File(ctx, p.ID, "index.html")
	if err != nil || string(content) != calculatorHTML {
		t.Errorf("file index.html = %q, %v; want the generated page", content, err)
	}
	if _, err := api.File(ctx, p.ID, "../../etc/passwd"); err == nil {
		t.Error("reading ../../etc/passwd succeeded; want an error")
	}
	if _, err := api.File(ctx, p.ID, "missing.html"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("reading a missing file: err = %v, want 404", err)
	}

	// Reconnecting with Last-Event-ID gets exactly the later events.
	n := int64(len(evs) / 2)
	later := collect(t, api, runID, n)
	if diff := cmp.Diff(seqs(evs[n:]), seqs(later)); diff != "" {
		t.Errorf("events after Last-Event-ID %d (-want +got):\n%s", n, diff)
	}
	if full := collect(t, api, runID, 0); len(full) != len(evs) {
		t.Errorf("full replay has %d events, want %d", len(full), len(evs))
	}

	// The model saw the tools and got the tool result back.
	reqs := model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("model got %d requests, want 2", len(reqs))
	}

	// A second user cannot see the project or its run.
	if _, err := s.app.Auth.AddUser(ctx, "other@example.com", "other password", false); err != nil {
		t.Fatal(err)
	}
	other := client.New(s.url, "")
	if _, err := other.Login(ctx, "other@example.com", "other password"); err != nil {
		t.Fatalf("login other: %v", err)
	}
	if _, err := other.Project(ctx, p.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("other user's GET project: err = %v, want 404", err)
	}
	if _, err := other.Files(ctx, p.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("other user's GET files: err = %v, want 404", err)
	}
	if err := other.StreamEvents(ctx, runID, 0, func(client.Event) error { return nil }); !isStatus(err, http.StatusNotFound) {
		t.Errorf("other user's run events: err = %v, want 404", err)
	}
	if _, err := other.Prompt(ctx, p.ID, "take over"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("other user's prompt: err = %v, want 404", err)
	}
	if ps, err := other.Projects(ctx); err != nil || len(ps) != 0 {
		t.Errorf("other user's project list = %v, %v; want empty", ps, err)
	}
}

func TestPromptWithoutModelEndsInClearError(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	ctx := t.Context()
	c := client.New(s.url, "")
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Model.Configured || !strings.Contains(st.Model.Reason, "ANTHROPIC_API_KEY") {
		t.Errorf("status model = %+v; want not configured, naming ANTHROPIC_API_KEY", st.Model)
	}
	if _, err := c.Setup(ctx, "a@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	p, err := c.CreateProject(ctx, "x", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := c.Prompt(ctx, p.ID, "anything")
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, c, runID, 0)
	last := evs[len(evs)-1]
	var d struct{ Code, Message string }
	_ = json.Unmarshal(last.Data, &d)
	if last.Type != "error" || d.Code != "model_not_configured" || !strings.Contains(d.Message, "ANTHROPIC_API_KEY") {
		t.Fatalf("last event = %s %s; want error model_not_configured naming ANTHROPIC_API_KEY", last.Type, last.Data)
	}
	if terminals := countTerminal(evs); terminals != 1 {
		t.Errorf("%d terminal events, want 1", terminals)
	}
}

func TestFinishedRunReplaysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	model := anthropictest.NewServer(t)
	model.Enqueue(anthropictest.Reply(anthropictest.WriteFile("index.html", "<h1>hi</h1>\n")), anthropictest.Reply(anthropictest.Text("done")))
	env := map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()}
	s := startServer(t, dir, env)
	ctx := t.Context()
	c := client.New(s.url, "")
	if _, err := c.Setup(ctx, "a@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	token, err := c.CreateToken(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.CreateProject(ctx, "x", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := c.Prompt(ctx, p.ID, "hello page")
	if err != nil {
		t.Fatal(err)
	}
	before := collect(t, c, runID, 0)
	s.stop()

	s2 := startServer(t, dir, env)
	c2 := client.New(s2.url, token)
	after := collect(t, c2, runID, 0)
	if diff := cmp.Diff(seqs(before), seqs(after)); diff != "" {
		t.Errorf("replay after restart (-before +after):\n%s", diff)
	}
	if after[len(after)-1].Type != "complete" {
		t.Errorf("last replayed event = %s, want complete", after[len(after)-1].Type)
	}
	// The workspace outlived the server; the stopped sandbox's files are readable.
	content, err := c2.File(ctx, p.ID, "index.html")
	if err != nil || string(content) != "<h1>hi</h1>\n" {
		t.Errorf("file after restart = %q, %v", content, err)
	}
}

func TestAPIAnswers401WithoutCredentials(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	routes := []struct{ method, path string }{
		{"GET", "/api/projects"},
		{"POST", "/api/projects"},
		{"GET", "/api/projects/x"},
		{"GET", "/api/projects/x/files"},
		{"GET", "/api/projects/x/files/index.html"},
		{"POST", "/api/projects/x/prompts"},
		{"GET", "/api/runs/x"},
		{"GET", "/api/runs/x/events"},
		{"POST", "/api/runs/x/cancel"},
		{"POST", "/api/auth/tokens"},
		{"POST", "/api/auth/logout"},
		{"GET", "/api/auth/me"},
		{"GET", "/api/project-types"},
		{"GET", "/api/no-such-route"},
	}
	for _, r := range routes {
		req, _ := http.NewRequestWithContext(t.Context(), r.method, s.url+r.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer qvt_not-a-real-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a bad token = %d, want 401", r.method, r.path, resp.StatusCode)
		}
		req, _ = http.NewRequestWithContext(t.Context(), r.method, s.url+r.path, strings.NewReader("{}"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials = %d, want 401", r.method, r.path, resp.StatusCode)
		}
	}
}

func TestSessionCookieFlags(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	body := strings.NewReader(`{"email":"a@example.com","password":"password123"}`)
	resp, err := http.Post(s.url+"/api/auth/setup", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("setup = %d", resp.StatusCode)
	}
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "qv_session" {
			c = ck
		}
	}
	if c == nil {
		t.Fatal("no qv_session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Domain != "" || c.Path != "/" {
		t.Errorf("cookie = %+v; want HttpOnly, SameSite=Lax, host-only, Path=/", c)
	}
	raw := resp.Header.Get("Set-Cookie")
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain attribute; want host-only", raw)
	}
}

func isStatus(err error, status int) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == status
}

// starterLines counts the lines of a file of the website starter, which
// every new website project begins with.
func starterLines(t *testing.T, path string) int {
	t.Helper()
	files, err := project.Starter("website")
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(files[path]), "\n")
	if n == 0 {
		t.Fatalf("the website starter has no %s", path)
	}
	return n
}

func containsFile(files []client.File, path string) bool {
	for _, f := range files {
		if f.Path == path {
			return true
		}
	}
	return false
}

func seqs(evs []client.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func countTerminal(evs []client.Event) int {
	n := 0
	for _, e := range evs {
		if e.Terminal() {
			n++
		}
	}
	return n
}
