package app_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/app"
	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

func daytonaEnv(fake *daytonatest.Server, model *anthropictest.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"QV_SANDBOX_PROVIDER": "daytona",
		"DAYTONA_API_URL":     fake.APIURL(),
		"DAYTONA_API_KEY":     daytonatest.DefaultAPIKey,
		"DAYTONA_SNAPSHOT":    daytonatest.DefaultSnapshot,
		"ANTHROPIC_API_KEY":   anthropictest.APIKey,
		"ANTHROPIC_BASE_URL":  model.URL(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// completeOf runs a prompt and returns its complete event's data.
func completeOf(t *testing.T, api *client.Client, projectID, prompt string) (done struct {
	Success    bool
	SandboxID  string
	PreviewURL string
}, evs []client.Event) {
	t.Helper()
	if _, err := api.PromptStream(t.Context(), projectID, prompt, func(e client.Event) error {
		evs = append(evs, e)
		return nil
	}); err != nil {
		t.Fatalf("prompt %q: %v", prompt, err)
	}
	last := evs[len(evs)-1]
	if err := json.Unmarshal(last.Data, &done); err != nil || last.Type != "complete" || !done.Success {
		t.Fatalf("prompt %q ended with %s %s; want a successful complete", prompt, last.Type, last.Data)
	}
	return done, evs
}

// getAuthed GETs an API path with a bearer token.
func getAuthed(t *testing.T, s *server, token, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestPromptToPreviewOnDaytona is the walking skeleton with
// QV_SANDBOX_PROVIDER=daytona against the Daytona double: the preview is
// served through QuickVibe's own proxy with Daytona's token added on the
// server, files and versions work as locally, a sandbox Daytona stopped is
// read from the latest version, one Daytona destroyed is recreated from it,
// and the signed mode hands out Daytona's own signed URL.
func TestPromptToPreviewOnDaytona(t *testing.T) {
	fake := daytonatest.OnBwrap(t, daytonatest.Options{})
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.Text("Building it."), anthropictest.WriteFile("index.html", calculatorHTML)),
		anthropictest.Reply(anthropictest.Text("Your calculator is ready.")),
		anthropictest.Reply(anthropictest.Text("Nothing to change: it is back.")),
	)
	dataDir := t.TempDir()
	opts := app.Options{Heartbeat: 200 * time.Millisecond, DaytonaHTTPClient: fake.Client()}
	s := startServerWith(t, dataDir, daytonaEnv(fake, model, nil), opts)
	ctx := t.Context()

	st, err := client.New(s.url, "").Status(ctx)
	if err != nil || !st.Sandbox.Ready {
		t.Fatalf("status = %+v, %v; want the Daytona engine ready", st, err)
	}
	token := ownerToken(t, s)
	api := client.New(s.url, token)
	p, err := api.CreateProject(ctx, "Calculator", "website")
	if err != nil {
		t.Fatal(err)
	}

	done, _ := completeOf(t, api, p.ID, "a calculator with dark mode")
	if !strings.HasPrefix(done.PreviewURL, "http://3000-"+done.SandboxID+".preview.localhost:") {
		t.Fatalf("preview URL = %q; want QuickVibe's preview host, never Daytona's", done.PreviewURL)
	}
	code, body := getPreview(t, s, done.PreviewURL)
	if code != http.StatusOK || !strings.Contains(body, "Dark Calculator") {
		t.Fatalf("preview through QuickVibe's proxy = %d %q; want the generated page", code, body)
	}

	// Daytona saw the preview request with its token in the header; nothing
	// of it reached the browser's answer.
	daytonaToken := fake.PreviewToken(done.SandboxID)
	if daytonaToken == "" {
		t.Fatalf("the double knows no sandbox %s", done.SandboxID)
	}
	var proxied bool
	for _, r := range fake.Requests() {
		if strings.HasSuffix(hostOnly(r.Host), daytonatest.ProxyDomain) {
			proxied = true
			if got := r.Header.Get("X-Daytona-Preview-Token"); got != daytonaToken {
				t.Errorf("preview request to Daytona carried token %q, want the sandbox's", got)
			}
			if strings.Contains(r.Query, daytonaToken) {
				t.Errorf("the preview token went in a query string: %s", r.Query)
			}
		}
	}
	if !proxied {
		t.Fatal("no preview request reached Daytona's preview proxy")
	}
	if strings.Contains(body, daytonaToken) {
		t.Error("the preview page contains Daytona's preview token")
	}

	// Files and versions work as with local sandboxes.
	if content, err := api.File(ctx, p.ID, "index.html"); err != nil || string(content) != calculatorHTML {
		t.Fatalf("file index.html = %q, %v", content, err)
	}
	if _, err := api.File(ctx, p.ID, "missing.html"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("reading a missing file: err = %v, want 404", err)
	}
	code, raw := getAuthed(t, s, token, "/api/projects/"+p.ID+"/export.zip")
	if code != http.StatusOK {
		t.Fatalf("export = %d %s", code, raw)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !zipHas(zr, "index.html") {
		t.Error("the exported zip has no index.html")
	}

	// Daytona stopped the sandbox behind QuickVibe's back (its auto-stop):
	// the code view answers from the latest version.
	fake.SetState(done.SandboxID, "stopped")
	if content, err := api.File(ctx, p.ID, "index.html"); err != nil || string(content) != calculatorHTML {
		t.Fatalf("file of a stopped Daytona sandbox = %q, %v; want it from the latest version", content, err)
	}
	if files, err := api.Files(ctx, p.ID); err != nil || !containsFile(files, "index.html") {
		t.Fatalf("files of a stopped Daytona sandbox = %+v, %v", files, err)
	}

	// Daytona deleted it: the next prompt starts a new sandbox from the
	// latest version.
	fake.SetState(done.SandboxID, "destroyed")
	again, evs := completeOf(t, api, p.ID, "is it still there?")
	if again.SandboxID == done.SandboxID || again.SandboxID == "" {
		t.Fatalf("second run used sandbox %q; want a new one", again.SandboxID)
	}
	var restored bool
	for _, e := range evs {
		restored = restored || (e.Type == "progress" && strings.Contains(string(e.Data), "Restored the files of the latest version"))
	}
	if !restored {
		t.Error("no progress event says the files were restored from the latest version")
	}
	if code, body := getPreview(t, s, again.PreviewURL); code != http.StatusOK || !strings.Contains(body, "Dark Calculator") {
		t.Fatalf("preview of the recreated sandbox = %d %q", code, body)
	}

	// The same data and Daytona, restarted in signed mode: the sandbox is
	// adopted, and the browser gets Daytona's signed URL, which works.
	s.stop()
	s2 := startServerWith(t, dataDir, daytonaEnv(fake, model, map[string]string{"QV_DAYTONA_PREVIEW": "signed"}), opts)
	sp, err := client.New(s2.url, token).PreviewURL(ctx, p.ID, 3000)
	if err != nil {
		t.Fatalf("signed preview URL: %v", err)
	}
	u, err := url.Parse(sp.URL)
	if err != nil || !strings.HasSuffix(hostOnly(u.Host), "."+daytonatest.ProxyDomain) || sp.Token != "" {
		t.Fatalf("signed mode preview = %+v; want a Daytona preview host and no QuickVibe token", sp)
	}
	if strings.Contains(sp.URL, fake.PreviewToken(again.SandboxID)) {
		t.Fatal("the signed URL carries the standard preview token")
	}
	resp, err := fake.Client().Get(sp.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Dark Calculator") {
		t.Fatalf("Daytona's signed URL = %d %q; want the page", resp.StatusCode, page)
	}
}

// hostOnly drops the port of a Host, if it has one.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

func zipHas(zr *zip.Reader, name string) bool {
	for _, f := range zr.File {
		if f.Name == name {
			return true
		}
	}
	return false
}

// TestDaytonaErrorsReachTheRun: what Daytona refuses ends the run with an
// error event that says why; 429 and 5xx are retried and the run goes on.
func TestDaytonaErrorsReachTheRun(t *testing.T) {
	fake := daytonatest.OnBwrap(t, daytonatest.Options{})
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.Text("Building it."), anthropictest.WriteFile("index.html", calculatorHTML)),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	s := startServerWith(t, t.TempDir(), daytonaEnv(fake, model, nil), app.Options{Heartbeat: 200 * time.Millisecond, DaytonaHTTPClient: fake.Client()})
	ctx := t.Context()
	token := ownerToken(t, s)
	api := client.New(s.url, token)

	failed := func(prompt, want string) {
		t.Helper()
		p, err := api.CreateProject(ctx, prompt, "website")
		if err != nil {
			t.Fatal(err)
		}
		var last client.Event
		if _, err := api.PromptStream(ctx, p.ID, prompt, func(e client.Event) error { last = e; return nil }); err != nil {
			t.Fatal(err)
		}
		var d struct{ Code, Message string }
		_ = json.Unmarshal(last.Data, &d)
		if last.Type != "error" || d.Code != "sandbox_error" || !strings.Contains(d.Message, want) {
			t.Errorf("%s: run ended with %s %s; want a sandbox error saying %q", prompt, last.Type, last.Data, want)
		}
		if strings.Contains(string(last.Data), daytonatest.DefaultAPIKey) {
			t.Errorf("%s: the error event holds the API key", prompt)
		}
	}
	fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusBadRequest, Message: "Total CPU limit exceeded. Maximum allowed: 4."})
	failed("quota", "Daytona quota exceeded: Total CPU limit exceeded")
	fake.FailNextStart("build_failed", "snapshot image could not be pulled")
	failed("broken snapshot", "snapshot image could not be pulled")

	// Rate limited and a server error, then Daytona answers: the run succeeds.
	fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusTooManyRequests, Message: "Rate limit exceeded",
		Header: http.Header{"Retry-After-Sandbox-Create": {"1"}}})
	fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusServiceUnavailable, Message: "upstream unavailable"})
	p, err := api.CreateProject(ctx, "retried", "website")
	if err != nil {
		t.Fatal(err)
	}
	completeOf(t, api, p.ID, "a calculator")
	var creates int
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/api/sandbox") {
			creates++
		}
	}
	// quota (1) + build_failed (1) + 429 + 503 + success.
	if creates != 5 {
		t.Errorf("Daytona saw %d creates; want 5 (the 429 and the 503 retried once each)", creates)
	}
}
