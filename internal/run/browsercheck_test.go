package run

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The sandboxes of the browser-check tests run this test binary as their
// toolbox.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// throwingScript replaces the website starter's script.js with one that
// throws as soon as the page loads.
const throwingScript = "document.title = 'Calculator';\nsetupKeypad();\n"

// browserFixture runs prompts on a website project for real: a bubblewrap
// sandbox, the agent on the Anthropic double, and headless Chromium for the
// check. No preview proxy exists, so no browser but the check's sees a page.
func browserFixture(t *testing.T, model *anthropictest.Server, maxFix int) *fixture {
	t.Helper()
	engine, err := bwrap.New(t.Context(), bwrap.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	llmModel, err := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: model.URL(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	path, err := screenshot.FindBrowser()
	if err != nil {
		t.Fatal(err)
	}
	browser := screenshot.NewBrowser(path)
	// Registered before the fixture's, so it runs after the manager's
	// shutdown: the browser outlives the runs that use it.
	t.Cleanup(func() {
		if err := browser.Close(); err != nil {
			t.Errorf("close browser: %v", err)
		}
	})
	return newFixtureWith(t, engine, agent.New(llmModel, agent.Options{}), Config{
		MaxFixAttempts: maxFix,
		Browser:        browser,
		PreviewURL:     func(id string, port int) string { return "http://preview/" + id },
	})
}

// systemLogs are the run's `log` events of stream "system".
func systemLogs(evs []store.Event) string {
	var b strings.Builder
	for _, e := range evs {
		var l events.LogLine
		if e.Type == events.TypeLog && json.Unmarshal(e.Data, &l) == nil && l.Stream == "system" {
			b.WriteString(l.Line + "\n")
		}
	}
	return b.String()
}

// userText is the text of the last message of a model request.
func userText(req anthropictest.Request) string {
	var b strings.Builder
	for _, c := range req.Messages[len(req.Messages)-1].Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// TestBrowserCheckCatchesErrorOnLoad: the model's page throws a
// ReferenceError on load and nobody has the preview open; the check's own
// browser sees it, the model is told, fixes it, and the run succeeds.
func TestBrowserCheckCatchesErrorOnLoad(t *testing.T) {
	t.Parallel()
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.Text("Building a calculator."), anthropictest.WriteFile("script.js", throwingScript)),
		anthropictest.Reply(anthropictest.Text("Done.")),
		anthropictest.Reply(anthropictest.EditFile("script.js", "setupKeypad();", "document.body.dataset.ready = 'yes';")),
		anthropictest.Reply(anthropictest.Text("Fixed: setupKeypad did not exist.")),
	)
	f := browserFixture(t, model, 3)
	evs := f.events(t, f.start(t, "a calculator").ID)
	if term := lastEvent(t, evs); term.Type != events.TypeComplete {
		t.Fatalf("run ended with %+v; want complete after one fix. System log:\n%s", term, systemLogs(evs))
	}
	reqs := model.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d model requests, want 4 (the prompt and one fix, two calls each)", len(reqs))
	}
	fix := userText(reqs[2])
	for _, want := range []string{"The app has errors", "headless Chromium", "ReferenceError: setupKeypad is not defined", "/script.js:2"} {
		if !strings.Contains(fix, want) {
			t.Errorf("the fix prompt lacks %q:\n%s", want, fix)
		}
	}
	if strings.Contains(fix, "127.0.0.1") {
		t.Errorf("the fix prompt shows the check's loopback address:\n%s", fix)
	}
	if logs := systemLogs(evs); strings.Count(logs, "The app has errors") != 1 {
		t.Errorf("want the errors shown to the user once, before the fix; system log:\n%s", logs)
	}
}

// TestBrowserCheckErrorPersistsUntilCap: the model never fixes the page;
// after the fix cap the run stops and says so, naming the browser's error.
func TestBrowserCheckErrorPersistsUntilCap(t *testing.T) {
	t.Parallel()
	var writes atomic.Int32
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(req anthropictest.Request) anthropictest.Turn {
		if last := req.Messages[len(req.Messages)-1]; last.Content[0].Type == "tool_result" {
			return anthropictest.Reply(anthropictest.Text("Done."))
		}
		// A different file each time, so the agent did change something.
		n := writes.Add(1)
		return anthropictest.Reply(anthropictest.WriteFile("script.js", fmt.Sprintf("// try %d\n%s", n, throwingScript)))
	}))
	f := browserFixture(t, model, 1)
	start := time.Now()
	evs := f.events(t, f.start(t, "a calculator").ID)
	term := lastEvent(t, evs)
	if term.Type != events.TypeError || term.Code != events.CodeFixLimit ||
		!strings.Contains(term.Message, "after 1 fix attempts") || !strings.Contains(term.Message, "ReferenceError: setupKeypad is not defined") {
		t.Fatalf("run ended with %+v; want fix_limit naming the browser's error", term)
	}
	if n := len(model.Requests()); n != 4 {
		t.Errorf("%d model requests, want 4 (the prompt and one fix, two calls each)", n)
	}
	t.Logf("run with two browser checks took %s", time.Since(start).Round(time.Millisecond))
}
