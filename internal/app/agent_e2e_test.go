package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/llm/openaitest"
	"github.com/quickvibe/quickvibe/internal/preview"
)

// agentServer boots a server on the Anthropic double with env on top, signs
// up and returns an API client.
func agentServer(t *testing.T, model *anthropictest.Server, env map[string]string) (*server, *client.Client) {
	t.Helper()
	vars := map[string]string{
		"ANTHROPIC_API_KEY":    anthropictest.APIKey,
		"ANTHROPIC_BASE_URL":   model.URL(),
		"QV_MODEL_RETRY_DELAY": "10ms",
	}
	for k, v := range env {
		vars[k] = v
	}
	s := startServer(t, t.TempDir(), vars)
	return s, signUp(t, s)
}

func signUp(t *testing.T, s *server) *client.Client {
	t.Helper()
	return client.New(s.url, ownerToken(t, s))
}

// ownerToken sets up the server's first user and returns an API token of it.
func ownerToken(t *testing.T, s *server) string {
	t.Helper()
	owner := client.New(s.url, "")
	if _, err := owner.Setup(t.Context(), "owner@example.com", "correct horse battery"); err != nil {
		t.Fatalf("setup: %v", err)
	}
	token, err := owner.CreateToken(t.Context(), "owner")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// runPrompt sends prompt and returns the run's events up to its terminal one.
func runAgentPrompt(t *testing.T, api *client.Client, projectID, prompt string) []client.Event {
	t.Helper()
	runID, err := api.Prompt(t.Context(), projectID, prompt)
	if err != nil {
		t.Fatalf("prompt: %v", err)
	}
	return collect(t, api, runID, 0)
}

type terminal struct {
	Type       string
	Code       string
	Message    string
	PreviewURL string
}

func lastEvent(t *testing.T, evs []client.Event) terminal {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	e := evs[len(evs)-1]
	out := terminal{Type: e.Type}
	if err := json.Unmarshal(e.Data, &out); err != nil {
		t.Fatal(err)
	}
	out.Type = e.Type
	return out
}

func eventsOf(evs []client.Event, typ string) []json.RawMessage {
	var out []json.RawMessage
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e.Data)
		}
	}
	return out
}

const (
	brokenServer = "const http = require('node:http');\nhttp.createServer((req, res) => { res.end('hi') }).listen(3000, '0.0.0.0') +;\n"
	fixedServer  = "const http = require('node:http');\nhttp.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end('<h1>Fixed API</h1>') }).listen(Number(process.env.PORT), '0.0.0.0');\n"
)

// lastUserText is the text of the last user message of a request.
func lastUserText(req anthropictest.Request) string {
	m := req.Messages[len(req.Messages)-1]
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// TestFixLoopSucceedsOnSecondAttempt: the model writes a server with a
// syntax error; the dev server dies, its output goes back to the model as a
// fix prompt, and the second version runs.
func TestFixLoopSucceedsOnSecondAttempt(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("server.js", brokenServer)),
		anthropictest.Reply(anthropictest.Text("The API is ready.")),
		anthropictest.Reply(anthropictest.WriteFile("server.js", fixedServer)),
		anthropictest.Reply(anthropictest.Text("Fixed the syntax error.")),
	)
	s, api := agentServer(t, model, nil)
	p, err := api.CreateProject(t.Context(), "API", "api")
	if err != nil {
		t.Fatal(err)
	}
	evs := runAgentPrompt(t, api, p.ID, "an API")
	done := lastEvent(t, evs)
	if done.Type != "complete" {
		t.Fatalf("terminal = %+v, want complete", done)
	}
	reqs := model.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d model requests, want 4", len(reqs))
	}
	fix := lastUserText(reqs[2])
	if !strings.Contains(fix, "The app has errors") || !strings.Contains(fix, "SyntaxError") {
		t.Errorf("fix prompt = %q; want the dev server's SyntaxError", fix)
	}
	if code, body := getPreview(t, s, done.PreviewURL); code != http.StatusOK || !strings.Contains(body, "Fixed API") {
		t.Errorf("preview = %d %q; want the fixed server", code, body)
	}
	usages := eventsOf(evs, "usage")
	var last struct{ CostUSD, FixCostUSD float64 }
	if err := json.Unmarshal(usages[len(usages)-1], &last); err != nil {
		t.Fatal(err)
	}
	// Four calls of 100 in / 20 out at $3/$15 per million: $0.0006 each,
	// two of them fixing.
	if !near(last.CostUSD, 0.0024) || !near(last.FixCostUSD, 0.0012) {
		t.Errorf("last usage = %+v; want cost 0.0024 with 0.0012 on fixes", last)
	}
	// The same, stored per run, per project and per user.
	runSpend, err := api.RunSpend(t.Context(), evs[0].RunID)
	if err != nil || !near(runSpend.CostUSD, 0.0024) || !near(runSpend.FixCostUSD, 0.0012) || len(runSpend.Kinds) != 2 || runSpend.Kinds[1].InputTokens != 200 {
		t.Errorf("run usage = %+v, %v", runSpend, err)
	}
	projectSpend, err := api.ProjectSpend(t.Context(), p.ID)
	if err != nil || !near(projectSpend.CostUSD, 0.0024) {
		t.Errorf("project usage = %+v, %v", projectSpend, err)
	}
	month, err := api.MySpend(t.Context())
	if err != nil || !near(month.CostUSD, 0.0024) || month.MaxMonthlyCostUSD != 50 {
		t.Errorf("month usage = %+v, %v", month, err)
	}
	other := client.New(s.url, "")
	if _, err := other.RunSpend(t.Context(), evs[0].RunID); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("usage without credentials: %v", err)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestFixLoopHitsCap: the model never fixes the server; after
// QV_MAX_FIX_ATTEMPTS rounds the run stops and says so.
func TestFixLoopHitsCap(t *testing.T) {
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(req anthropictest.Request) anthropictest.Turn {
		if last := req.Messages[len(req.Messages)-1]; last.Content[0].Type == "tool_result" {
			return anthropictest.Reply(anthropictest.Text("Done."))
		}
		return anthropictest.Reply(anthropictest.WriteFile("server.js", brokenServer+"// "+time.Now().String()+"\n"))
	}))
	_, api := agentServer(t, model, map[string]string{"QV_MAX_FIX_ATTEMPTS": "1"})
	p, err := api.CreateProject(t.Context(), "API", "api")
	if err != nil {
		t.Fatal(err)
	}
	done := lastEvent(t, runAgentPrompt(t, api, p.ID, "an API"))
	if done.Type != "error" || done.Code != "fix_limit" || !strings.Contains(done.Message, "after 1 fix attempts") || !strings.Contains(done.Message, "SyntaxError") {
		t.Fatalf("terminal = %+v; want fix_limit naming the attempts and the error", done)
	}
	if n := len(model.Requests()); n != 4 {
		t.Errorf("%d model requests, want 4 (the prompt and one fix, two calls each)", n)
	}
}

// TestBudgetRefusal: a call that would pass the per-run or the monthly cap
// is not made, and the run says which limit.
func TestBudgetRefusal(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		// Each call costs $0.0006; the second would bring the run to $0.0012.
		{"per run", map[string]string{"QV_MAX_RUN_COST_USD": "0.001"}, "QV_MAX_RUN_COST_USD"},
		{"per user per month", map[string]string{"QV_MAX_RUN_COST_USD": "0", "QV_MAX_USER_MONTHLY_COST_USD": "0.001"}, "QV_MAX_USER_MONTHLY_COST_USD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			model := anthropictest.NewServer(t)
			model.Enqueue(anthropictest.Reply(anthropictest.WriteFile("index.html", "<h1>hi</h1>")))
			_, api := agentServer(t, model, tt.env)
			p, err := api.CreateProject(t.Context(), "Site", "website")
			if err != nil {
				t.Fatal(err)
			}
			evs := runAgentPrompt(t, api, p.ID, "a page")
			done := lastEvent(t, evs)
			if done.Type != "error" || done.Code != "budget_exceeded" || !strings.Contains(done.Message, tt.want) {
				t.Fatalf("terminal = %+v; want budget_exceeded naming %s", done, tt.want)
			}
			if n := len(model.Requests()); n != 1 {
				t.Errorf("%d model requests, want 1: the refused call is never sent", n)
			}
			if content, err := api.File(t.Context(), p.ID, "index.html"); err != nil || string(content) != "<h1>hi</h1>" {
				t.Errorf("index.html = %q, %v; the work before the refusal is kept", content, err)
			}
		})
	}
}

// TestModelFaultsThroughServer: a 529 and a stream cut mid-message are
// retried within the run; when every try fails the run ends with an error
// that says what happened and what to do.
func TestModelFaultsThroughServer(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.HTTPError(529, "overloaded_error", "Overloaded"),
		anthropictest.Reply(anthropictest.Text("Writing it now."), anthropictest.WriteFile("index.html", "<h1>ok</h1>")).CutAfter(4),
		anthropictest.Reply(anthropictest.WriteFile("index.html", "<h1>ok</h1>")),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	_, api := agentServer(t, model, map[string]string{"QV_MODEL_ATTEMPTS": "3"})
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	evs := runAgentPrompt(t, api, p.ID, "a page")
	if done := lastEvent(t, evs); done.Type != "complete" {
		t.Fatalf("terminal = %+v, want complete after retries", done)
	}
	var notices []string
	for _, raw := range eventsOf(evs, "log") {
		var l struct{ Stream, Line string }
		_ = json.Unmarshal(raw, &l)
		if l.Stream == "system" {
			notices = append(notices, l.Line)
		}
	}
	if len(notices) != 2 || !strings.Contains(notices[0], "overloaded") || !strings.Contains(notices[1], "broke off") {
		t.Errorf("retry notices = %q; want the overload and the broken stream", notices)
	}

	for range 3 {
		model.Enqueue(anthropictest.StreamError("overloaded_error", "Overloaded"))
	}
	done := lastEvent(t, runAgentPrompt(t, api, p.ID, "make it blue"))
	if done.Type != "error" || done.Code != "model_error" || !strings.Contains(done.Message, "overloaded") || !strings.Contains(done.Message, "tried 3 times") {
		t.Errorf("terminal = %+v; want model_error saying overloaded, tried 3 times", done)
	}
}

// TestFollowUpKeepsConversation: the second prompt continues the stored
// conversation, sees the current file and changes one line with edit_file.
func TestFollowUpKeepsConversation(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", calculatorHTML)),
		anthropictest.Reply(anthropictest.Text("Built.")),
		anthropictest.Reply(anthropictest.EditFile("index.html", "<h1>Dark Calculator</h1>", "<h1>Light Calculator</h1>")),
		anthropictest.Reply(anthropictest.Text("Renamed.")),
	)
	_, api := agentServer(t, model, nil)
	p, err := api.CreateProject(t.Context(), "Calc", "website")
	if err != nil {
		t.Fatal(err)
	}
	if done := lastEvent(t, runAgentPrompt(t, api, p.ID, "a calculator")); done.Type != "complete" {
		t.Fatalf("first run = %+v", done)
	}
	evs := runAgentPrompt(t, api, p.ID, "call it light")
	if done := lastEvent(t, evs); done.Type != "complete" {
		t.Fatalf("second run = %+v", done)
	}
	follow := model.Requests()[2]
	if follow.Messages[0].Content[len(follow.Messages[0].Content)-1].Text != "a calculator" || len(follow.Messages) != 5 {
		t.Errorf("follow-up request has %d messages starting %+v; want the first run's four and the new prompt", len(follow.Messages), follow.Messages[0])
	}
	if !strings.Contains(lastUserText(follow), "<h1>Dark Calculator</h1>") {
		t.Errorf("follow-up prompt lacks the current index.html: %q", lastUserText(follow))
	}
	ctxEvents := eventsOf(evs, "context")
	if len(ctxEvents) != 1 || !strings.Contains(string(ctxEvents[0]), `"index.html"`) {
		t.Errorf("context events = %s; want index.html listed", ctxEvents)
	}
	content, err := api.File(t.Context(), p.ID, "index.html")
	if err != nil || string(content) != strings.Replace(calculatorHTML, "Dark Calculator", "Light Calculator", 1) {
		t.Errorf("index.html = %q, %v", content, err)
	}
}

// TestCancelMidCommand cancels a run while the model's command runs in a
// real sandbox; the run ends as cancelled long before the command would.
func TestCancelMidCommand(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(anthropictest.Reply(anthropictest.RunCommand("touch started && sleep 60 && touch finished", 120)))
	_, api := agentServer(t, model, nil)
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := api.Prompt(t.Context(), p.ID, "run something slow")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := api.File(t.Context(), p.ID, "started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancelled := time.Now()
	if err := api.CancelRun(t.Context(), runID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	done := lastEvent(t, collect(t, api, runID, 0))
	if done.Type != "error" || done.Code != "cancelled" {
		t.Fatalf("terminal = %+v, want cancelled", done)
	}
	// A generous bound: the command would have run for a minute.
	if waited := time.Since(cancelled); waited > 10*time.Second {
		t.Errorf("the run ended %s after cancel; the command was not stopped", waited)
	}
	time.Sleep(time.Second)
	if _, err := api.File(t.Context(), p.ID, "finished"); err == nil {
		t.Error("the command finished after the run was cancelled")
	}
}

// TestOpenAIProviderEndToEnd builds a page through an OpenAI-compatible
// endpoint chosen with QV_MODEL_PROVIDER.
func TestOpenAIProviderEndToEnd(t *testing.T) {
	model := openaitest.NewServer(t)
	model.Enqueue(
		openaitest.Reply(openaitest.Text("Building."), openaitest.WriteFile("index.html", calculatorHTML)),
		openaitest.Reply(openaitest.Text("Ready.")),
	)
	s := startServer(t, t.TempDir(), map[string]string{
		"QV_MODEL_PROVIDER": "openai",
		"OPENAI_BASE_URL":   model.URL(),
		"OPENAI_API_KEY":    openaitest.APIKey,
		"QV_MODEL":          "qwen2.5-coder",
	})
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "Calc", "website")
	if err != nil {
		t.Fatal(err)
	}
	evs := runAgentPrompt(t, api, p.ID, "a calculator")
	done := lastEvent(t, evs)
	if done.Type != "complete" {
		t.Fatalf("terminal = %+v", done)
	}
	if code, body := getPreview(t, s, done.PreviewURL); code != http.StatusOK || !strings.Contains(body, "Dark Calculator") {
		t.Errorf("preview = %d %q", code, body)
	}
	if reqs := model.Requests(); len(reqs) != 2 || reqs[0].Model != "qwen2.5-coder" {
		t.Errorf("requests = %+v; want two for qwen2.5-coder", reqs)
	}
	if len(eventsOf(evs, "tool")) != 1 || len(eventsOf(evs, "usage")) != 2 {
		t.Errorf("events = %d tool, %d usage; want 1 and 2", len(eventsOf(evs, "tool")), len(eventsOf(evs, "usage")))
	}
}

// TestBrowserErrorsReachTheModel: preview pages carry the reporter script;
// what it posts reaches the model with the next prompt.
func TestBrowserErrorsReachTheModel(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", "<!doctype html><html><head><title>x</title></head><body><script>boom()</script></body></html>")),
		anthropictest.Reply(anthropictest.Text("Built.")),
		anthropictest.Reply(anthropictest.Text("I see the error.")),
	)
	// This is about what open previews report; the check's own browser
	// would catch boom() before anyone opened one.
	s, api := agentServer(t, model, map[string]string{"QV_BROWSER_CHECK": "off"})
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	done := lastEvent(t, runAgentPrompt(t, api, p.ID, "a page"))
	if done.Type != "complete" {
		t.Fatalf("first run = %+v", done)
	}
	code, body := getPreview(t, s, done.PreviewURL)
	if code != http.StatusOK || !strings.Contains(body, `<head><script data-quickvibe="error-reporter">`) || !strings.Contains(body, "<title>x</title>") {
		t.Fatalf("preview = %d %q; want the page with the reporter script after <head>", code, body)
	}

	// What the script sends when boom() throws.
	sp, err := api.PreviewURL(t.Context(), p.ID, 3000)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(done.PreviewURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+preview.ReportPath,
		strings.NewReader(`{"kind":"error","message":"ReferenceError: boom is not defined at index.html:1:9","url":"/"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = u.Host
	req.Header.Set(preview.TokenHeader, sp.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("report answered %d, want 204", resp.StatusCode)
	}

	if done := lastEvent(t, runAgentPrompt(t, api, p.ID, "why is it broken?")); done.Type != "complete" {
		t.Fatalf("second run = %+v", done)
	}
	got := lastUserText(model.Requests()[2])
	if !strings.Contains(got, "<browser_errors>") || !strings.Contains(got, "ReferenceError: boom is not defined") {
		t.Errorf("follow-up prompt = %q; want the browser's error", got)
	}
}

// TestModelPerProjectAndPrompt: a project's model, then a prompt's, reach
// the API; bad ids are refused.
func TestModelPerProjectAndPrompt(t *testing.T) {
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		return anthropictest.Reply(anthropictest.Text("ok"))
	}))
	_, api := agentServer(t, model, nil)
	if _, err := api.CreateProjectWithModel(t.Context(), "Bad", "website", "no spaces please"); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("create with a bad model: err = %v, want 400", err)
	}
	p, err := api.CreateProjectWithModel(t.Context(), "Haiku", "website", "claude-haiku-4-5")
	if err != nil {
		t.Fatal(err)
	}
	if done := lastEvent(t, runAgentPrompt(t, api, p.ID, "hello")); done.Type != "complete" {
		t.Fatalf("run = %+v", done)
	}
	runID, err := api.PromptWithModel(t.Context(), p.ID, "again", "claude-opus-4-1")
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, api, runID, 0)
	if done := lastEvent(t, evs); done.Type != "complete" {
		t.Fatalf("run = %+v", done)
	}
	if _, err := api.PromptWithModel(t.Context(), p.ID, "again", "../../etc"); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("prompt with a bad model: err = %v, want 400", err)
	}
	reqs := model.Requests()
	if len(reqs) != 2 || reqs[0].Model != "claude-haiku-4-5" || reqs[1].Model != "claude-opus-4-1" {
		t.Fatalf("models sent = %d requests; want haiku then opus", len(reqs))
	}
	// Opus costs $15/$75 per million: 100 in, 20 out.
	usages := eventsOf(evs, "usage")
	var u struct {
		CostUSD float64
		Model   string
	}
	if err := json.Unmarshal(usages[len(usages)-1], &u); err != nil {
		t.Fatal(err)
	}
	if u.Model != "claude-opus-4-1" || !near(u.CostUSD, 0.003) {
		t.Errorf("usage = %+v; want opus at $0.003", u)
	}
}
