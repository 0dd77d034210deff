package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/web"
)

// Browser end-to-end tests: real Chromium (Debian's chromium, headless)
// drives the real server with the scripted model.

// browser is one headless Chromium tab on a running server's app origin.
type browser struct {
	t    *testing.T
	name string // prefixes its screenshots
	ctx  context.Context
	base string // the app's origin, on localhost like QV_PUBLIC_URL
	shot int
}

func newBrowser(t *testing.T, s *server, name string) *browser {
	t.Helper()
	if !web.Built() {
		t.Fatal("the web UI is not built into this test binary: run `make ui` first (make test does)")
	}
	path, err := screenshot.FindBrowser()
	if err != nil {
		t.Fatal(err)
	}
	// The profile is removed by hand: Chromium's helpers may still write to
	// it for a moment after the browser stops, which t.TempDir would fail on.
	profile, err := os.MkdirTemp("", "quickvibe-test-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(screenshot.AllocatorOptions(path, profile),
		chromedp.WindowSize(1440, 900),
		// Keep the preview iframe in the page's process, so the test can
		// read the generated page's DOM.
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "IsolateOrigins,site-per-process"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil {
				return
			}
			if i == 20 {
				t.Logf("remove chromium profile: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, name: name, ctx: ctx, base: s.app.Config().PublicURL.String()}
}

// run runs actions and fails the test, with a screenshot, on error.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the page as an artifact of the test.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	var png []byte
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	p := filepath.Join(b.t.ArtifactDir(), fmt.Sprintf("%s-%02d-%s.png", b.name, b.shot, strings.ReplaceAll(name, " ", "-")))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	var ok bool
	b.run(what, chromedp.Poll(expr, &ok, chromedp.WithPollingTimeout(55*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
}

func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	b.run("evaluate "+expr, chromedp.Evaluate(expr, out))
}

// evalAsync evaluates an expression that yields a promise, and waits for it.
func (b *browser) evalAsync(expr string, out any) {
	b.t.Helper()
	b.run("evaluate "+expr, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

// frameText waits until the preview iframe's page contains want and
// returns its text. The iframe is looked up afresh each time, since a
// reload replaces it.
func (b *browser) frameText(want string) string {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		var nodes []*cdp.Node
		err := chromedp.Run(ctx, chromedp.Nodes("iframe.preview-frame", &nodes, chromedp.ByQuery))
		if err == nil && len(nodes) > 0 {
			err = chromedp.Run(ctx, chromedp.Text("body", &last, chromedp.ByQuery, chromedp.FromNode(nodes[0])))
		}
		cancel()
		if err == nil && strings.Contains(last, want) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.screenshot("failed-preview")
	var src string
	b.eval(`document.querySelector('iframe.preview-frame')?.src ?? ''`, &src)
	b.run("cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		cs, err := network.GetCookies().WithURLs([]string{src}).Do(ctx)
		for _, c := range cs {
			b.t.Logf("DEBUGCOOKIE %+v", *c)
		}
		return err
	}))
	b.t.Fatalf("preview iframe (src %s) never showed %q; last text %q", src, want, last)
	return ""
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return strconv.Quote(s) }

// count returns how many times text occurs in the text of the elements
// matching selector.
func (b *browser) count(selector, text string) int {
	b.t.Helper()
	var n int
	b.eval(fmt.Sprintf(`[...document.querySelectorAll(%s)].map(e => e.textContent.split(%s).length - 1).reduce((a, c) => a + c, 0)`, js(selector), js(text)), &n)
	return n
}

// signUp creates the first account through the "create your account" page.
func (b *browser) signUp(email, password string) {
	b.t.Helper()
	b.run("open app", chromedp.Navigate(b.base+"/"))
	b.waitJS("setup page", `document.querySelector('h1')?.textContent === 'Create your account'`)
	b.screenshot("setup")
	b.run("fill setup form",
		chromedp.SendKeys(`input[name=email]`, email, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=confirm]`, password, chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
	)
	b.waitJS("dashboard after setup", `document.querySelector('#dash-title')?.textContent === 'Your projects'`)
}

// createWebsite creates a website project from the type grid and sends
// prompt with the Enter key; it returns the new project's id.
func (b *browser) createWebsite(prompt string) string {
	b.t.Helper()
	b.run("open new project", chromedp.Click(`a[href="/new"].btn`, chromedp.ByQuery))
	b.waitJS("type grid", `!!document.querySelector('.type-card[data-type=website]')`)
	b.screenshot("type-grid")
	b.run("choose website", chromedp.Click(`.type-card[data-type=website]`, chromedp.ByQuery))
	b.run("type prompt",
		chromedp.WaitVisible(`#new-prompt`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-prompt`, prompt, chromedp.ByQuery),
	)
	b.screenshot("prompt")
	b.run("press Enter", chromedp.KeyEvent("\r"))
	b.waitJS("project page", `location.pathname.startsWith('/p/')`)
	var path string
	b.eval(`location.pathname`, &path)
	return strings.TrimPrefix(path, "/p/")
}

// startUIServer starts a server on the defaults `make run` uses: the app on
// localhost, previews on *.preview.localhost. They are different sites, so
// the preview frame relies on its partitioned (CHIPS) cookie.
func startUIServer(t *testing.T, model *anthropictest.Server) *server {
	t.Helper()
	return startServer(t, t.TempDir(), map[string]string{
		"ANTHROPIC_API_KEY":  anthropictest.APIKey,
		"ANTHROPIC_BASE_URL": model.URL(),
	})
}

const lightCalculatorHTML = `<!doctype html>
<html><head><title>Calculator</title></head>
<body><h1>Light Calculator</h1></body></html>
`

func TestBrowserCreateWatchPreviewEdit(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(
			anthropictest.Text("I'll build a calculator with a dark theme."),
			anthropictest.WriteFile("index.html", calculatorHTML),
			// A slow command keeps the run going long enough to watch it.
			anthropictest.RunCommand("sleep 2 && ls", 30),
		),
		anthropictest.Reply(anthropictest.Text("Your calculator is ready.")),
	)
	s := startUIServer(t, model)
	b := newBrowser(t, s, "owner")
	b.signUp("owner@example.com", "correct horse battery")
	b.screenshot("dashboard-empty")
	id := b.createWebsite("a calculator with dark mode")

	// The conversation streams: the prompt, progress with a spinner while
	// running, the assistant's words, tool rows.
	b.waitJS("user message", `document.querySelector('.msg-user .bubble')?.textContent === 'a calculator with dark mode'`)
	b.waitJS("running progress", `!!document.querySelector('.run[data-state=running] .steps .spinner')`)
	b.waitJS("assistant text", `[...document.querySelectorAll('.assistant-text')].some(e => e.textContent.includes("I'll build a calculator"))`)
	b.screenshot("streaming")
	// The page replaces the website starter's index.html, keeping only its
	// doctype line.
	b.waitJS("tool row for index.html", `[...document.querySelectorAll('.tool[data-action=edit]')].some(e => e.textContent.includes('index.html') && e.textContent.includes('+2') && e.textContent.includes('−`+strconv.Itoa(starterLines(t, "index.html")-1)+`'))`)
	b.waitJS("run complete", `!!document.querySelector('.run[data-state=complete]')`)
	b.waitJS("final text", `[...document.querySelectorAll('.assistant-text')].some(e => e.textContent.includes('Your calculator is ready.'))`)
	b.waitJS("command row with exit code", `[...document.querySelectorAll('.tool[data-action=run]')].some(e => e.textContent.includes('exit 0'))`)
	b.waitJS("usage", `!!document.querySelector('.usage')`)

	// The preview shows the generated page, with its URL and sandbox id.
	b.frameText("Dark Calculator")
	var previewURL, sandboxLabel string
	b.eval(`document.querySelector('a.preview-url')?.href ?? ''`, &previewURL)
	b.eval(`document.querySelector('.sandbox-id')?.textContent ?? ''`, &sandboxLabel)
	p, err := s.app.Store.ProjectByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sandboxLabel != p.SandboxID || !strings.Contains(previewURL, p.SandboxID+".preview.localhost") {
		t.Errorf("preview bar shows url %q sandbox %q; want the project's sandbox %s", previewURL, sandboxLabel, p.SandboxID)
	}
	var sandboxAttr string
	b.eval(`document.querySelector('iframe.preview-frame').getAttribute('sandbox')`, &sandboxAttr)
	if sandboxAttr != "allow-scripts allow-forms allow-same-origin" {
		t.Errorf("iframe sandbox = %q", sandboxAttr)
	}
	b.screenshot("preview")

	// Device width toggle narrows the frame.
	b.run("phone width", chromedp.Click(`.seg button:nth-child(3)`, chromedp.ByQuery))
	b.waitJS("phone-sized frame", `document.querySelector('iframe.preview-frame').getBoundingClientRect().width <= 390`)
	b.screenshot("preview-phone")
	b.run("desktop width", chromedp.Click(`.seg button:nth-child(1)`, chromedp.ByQuery))

	// Edit the page in the editor, save, and the preview changes.
	b.run("open code tab", chromedp.Click(`#tab-code`, chromedp.ByQuery))
	b.waitJS("editor with index.html", `document.querySelector('.editor-path')?.textContent === 'index.html' && (document.querySelector('.cm-content')?.textContent ?? '').includes('Dark Calculator')`)
	b.screenshot("code")
	b.run("replace the page",
		chromedp.Click(`.cm-content`, chromedp.ByQuery),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(input.ModifierCtrl)),
		chromedp.ActionFunc(func(ctx context.Context) error { return input.InsertText(lightCalculatorHTML).Do(ctx) }),
	)
	b.waitJS("edited", `(document.querySelector('.cm-content')?.textContent ?? '').includes('Light Calculator')`)
	b.run("save", chromedp.Click(`button[aria-label="Save file"]`, chromedp.ByQuery))
	b.waitJS("saved", `(document.querySelector('.editor-bar')?.textContent ?? '').includes('Saved')`)
	b.screenshot("saved")
	got, err := s.app.Sandboxes().ReadFile(t.Context(), p.SandboxID, "index.html")
	if err != nil || !strings.Contains(string(got), "Light Calculator") {
		t.Errorf("index.html in the sandbox after save = %q, %v", got, err)
	}
	b.run("open preview tab", chromedp.Click(`#tab-preview`, chromedp.ByQuery))
	b.frameText("Light Calculator")
	b.screenshot("preview-edited")

	// On a phone-sized screen the panels stack.
	b.run("phone viewport", chromedp.EmulateViewport(390, 844))
	b.waitJS("stacked layout", `getComputedStyle(document.querySelector('.divider')).display === 'none' && document.querySelector('.split-right').getBoundingClientRect().top >= document.querySelector('.split-left').getBoundingClientRect().bottom`)
	b.screenshot("phone-layout")
	b.run("desktop viewport", chromedp.EmulateViewport(1440, 900))

	// Light/dark theme switch.
	b.run("switch theme", chromedp.Click(`.topbar-right .icon-btn`, chromedp.ByQuery))
	b.screenshot("theme-switched")

	// Back on the dashboard: the card, its thumbnail (taken after the run),
	// rename and delete.
	b.run("dashboard", chromedp.Click(`.brand`, chromedp.ByQuery))
	b.waitJS("project card", fmt.Sprintf(`!!document.querySelector('.project-card[data-project-id=%s]')`, js(id)))
	deadline := time.Now().Add(45 * time.Second)
	for {
		var hasThumb bool
		b.eval(`!!document.querySelector('.project-card .thumb img')`, &hasThumb)
		if hasThumb {
			break
		}
		if time.Now().After(deadline) {
			b.screenshot("failed-thumbnail")
			t.Fatal("the project card never showed a thumbnail")
		}
		time.Sleep(time.Second)
		b.run("reload dashboard", chromedp.Reload())
		b.waitJS("project card", `!!document.querySelector('.project-card')`)
	}
	b.waitJS("thumbnail loaded", `(() => { const i = document.querySelector('.project-card .thumb img'); return i.complete && i.naturalWidth > 0 })()`)
	b.screenshot("dashboard")

	b.run("rename", chromedp.Click(`.project-card button[aria-label^="Rename"]`, chromedp.ByQuery))
	// The name field takes the focus with the name selected: typing replaces it.
	b.waitJS("name field focused", `document.activeElement?.matches('.rename-form input') && document.activeElement.selectionEnd > 0`)
	b.run("type new name", chromedp.KeyEvent("Pocket Calculator\r"))
	b.waitJS("renamed card", `document.querySelector('.project-card .card-title')?.textContent === 'Pocket Calculator'`)
	if p, err := s.app.Store.ProjectByID(t.Context(), id); err != nil || p.Name != "Pocket Calculator" {
		t.Errorf("stored project after rename = %+v, %v", p, err)
	}
	b.run("delete",
		chromedp.Click(`.project-card button[aria-label^="Delete"]`, chromedp.ByQuery),
		chromedp.Click(`.project-card button[aria-label^="Confirm delete"]`, chromedp.ByQuery),
	)
	b.waitJS("card gone", `!document.querySelector('.project-card')`)
	if _, err := s.app.Store.ProjectByID(t.Context(), id); err == nil {
		t.Error("project still stored after delete")
	}
	if _, err := s.app.Sandboxes().Get(t.Context(), p.SandboxID); err == nil {
		t.Error("sandbox still exists after deleting its project")
	}
	b.screenshot("deleted")
}

func TestBrowserTerminal(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", calculatorHTML), anthropictest.WriteFile("notes-for-terminal.txt", "hello\n")),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	s := startUIServer(t, model)
	b := newBrowser(t, s, "owner")
	b.signUp("owner@example.com", "correct horse battery")
	id := b.createWebsite("a page")
	b.waitJS("run complete", `!!document.querySelector('.run[data-state=complete]')`)
	b.run("open terminal tab", chromedp.Click(`#tab-terminal`, chromedp.ByQuery))
	b.waitJS("terminal connected", `!!document.querySelector('.xterm-helper-textarea') && !document.querySelector('.terminal-bar')`)
	b.typeInTerminal("ls")
	b.waitJS("ls output", `(document.querySelector('.xterm-rows')?.textContent ?? '').includes('notes-for-terminal.txt')`)
	b.screenshot("terminal")

	// The Logs tab follows the dev server itself, after the run too: its
	// start line is there, and when it is killed the supervisor's note and
	// the restarted server's start line arrive live, each shown once.
	const startLine = `[...document.querySelectorAll('.log-line.log-stdout')].filter(e => e.textContent.startsWith('qv-serve: serving')).length`
	b.run("open logs tab", chromedp.Click(`#tab-logs`, chromedp.ByQuery))
	b.waitJS("dev server start line", startLine+` === 1 && !!document.querySelector('.logs-status.logs-live')`)
	b.screenshot("logs")
	// Kill the dev server from inside the sandbox (no pkill there: find it in
	// /proc; the bracket keeps the pattern from matching this shell itself).
	p, err := s.app.Store.ProjectByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	kill := `for p in /proc/[0-9]*; do grep -qa 'qv-[s]erve' $p/cmdline 2>/dev/null && kill ${p#/proc/}; done; true`
	if res, err := s.app.Sandboxes().Exec(t.Context(), p.SandboxID, sandbox.ExecRequest{Command: kill}); err != nil || res.ExitCode != 0 {
		t.Fatalf("kill the dev server: %+v, %v", res, err)
	}
	b.waitJS("supervisor note", `[...document.querySelectorAll('.log-line.log-system')].some(e => e.textContent.includes('exited'))`)
	b.waitJS("restarted dev server", startLine+` === 2`)
	var seqs []int
	b.eval(`[...document.querySelectorAll('.log-line')].map(e => Number(e.dataset.seq))`, &seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("log lines out of order or repeated: seq %v", seqs)
		}
	}
	b.screenshot("logs-restarted")

	// A stopped sandbox says so instead of leaving the tab waiting.
	var status int
	b.evalAsync(fmt.Sprintf(`fetch('/api/projects/%s').then(r => r.json()).then(p => fetch('/api/sandboxes/' + p.sandboxId + '/stop', {method: 'POST'})).then(r => r.status)`, id), &status)
	if status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("stop sandbox = %d", status)
	}
	b.waitJS("sandbox stopped state", `(document.querySelector('.logs-status.logs-stopped')?.textContent ?? '').includes('Sandbox stopped')`)
	b.screenshot("logs-stopped")
}

// typeInTerminal types a command and Enter into the terminal. Text goes in
// as one input event and Enter as a bare key press, the way a keyboard
// delivers them; chromedp's KeyEvent would send each character both as a
// key press and as input, and xterm would see it twice.
func (b *browser) typeInTerminal(command string) {
	b.t.Helper()
	b.run("type "+command,
		chromedp.Click(`.terminal-host`, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error { return input.InsertText(command).Do(ctx) }),
		chromedp.ActionFunc(func(ctx context.Context) error {
			enter := input.DispatchKeyEvent(input.KeyRawDown).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13)
			if err := enter.Do(ctx); err != nil {
				return err
			}
			return input.DispatchKeyEvent(input.KeyUp).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).Do(ctx)
		}),
	)
}

func TestBrowserReloadMidRunResumesWithoutDuplicates(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(
			anthropictest.Text("Step one: writing the page."),
			anthropictest.WriteFile("index.html", calculatorHTML),
			anthropictest.RunCommand("sleep 4 && echo slept", 30),
		),
		anthropictest.Reply(anthropictest.Text("All done now.")),
	)
	s := startUIServer(t, model)
	b := newBrowser(t, s, "owner")
	b.signUp("owner@example.com", "correct horse battery")
	b.createWebsite("a page that takes a while")
	b.waitJS("first text", `[...document.querySelectorAll('.assistant-text')].some(e => e.textContent.includes('Step one'))`)
	b.waitJS("file written", `!!document.querySelector('.tool[data-action=edit]')`)
	b.screenshot("before-reload")

	// Reload while the command is still running.
	b.run("reload", chromedp.Reload())
	b.waitJS("conversation restored", `[...document.querySelectorAll('.assistant-text')].some(e => e.textContent.includes('Step one'))`)
	var running bool
	b.eval(`!!document.querySelector('.run[data-state=running]')`, &running)
	b.screenshot("after-reload")
	if !running {
		t.Error("after the reload the run no longer shows as running; want the live stream resumed mid-run")
	}
	b.waitJS("run complete after reload", `!!document.querySelector('.run[data-state=complete]')`)
	b.waitJS("final text", `[...document.querySelectorAll('.assistant-text')].some(e => e.textContent.includes('All done now.'))`)
	b.screenshot("completed-after-reload")

	for _, c := range []struct {
		selector, text string
	}{
		{".msg-user", "a page that takes a while"},
		{".assistant-text", "Step one: writing the page."},
		{".assistant-text", "All done now."},
		{".tool[data-action=edit]", "index.html"},
		{".tool[data-action=run]", "sleep 4"},
	} {
		if n := b.count(c.selector, c.text); n != 1 {
			t.Errorf("%q shown %d times in %s, want once", c.text, n, c.selector)
		}
	}
	var runs int
	b.eval(`document.querySelectorAll('.run').length`, &runs)
	if runs != 1 {
		t.Errorf("%d runs shown, want 1", runs)
	}
}

func TestBrowserOtherUserCannotOpenProject(t *testing.T) {
	model := anthropictest.NewServer(t)
	s := startUIServer(t, model)
	owner := newBrowser(t, s, "owner")
	owner.signUp("owner@example.com", "correct horse battery")
	var id string
	owner.evalAsync(`fetch('/api/projects', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'Secret', type: 'website'})}).then(r => r.json()).then(p => p.id)`, &id)
	if id == "" {
		t.Fatal("creating a project from the page returned no id")
	}
	owner.run("open own project", chromedp.Navigate(owner.base+"/p/"+id))
	owner.waitJS("own project opens", `document.querySelector('.project-title')?.textContent.includes('Secret')`)
	owner.waitJS("empty state", `!!document.querySelector('.conv-empty')`)
	owner.screenshot("own-project-empty")

	if _, err := s.app.Auth.AddUser(t.Context(), "other@example.com", "other password", false); err != nil {
		t.Fatal(err)
	}
	other := newBrowser(t, s, "other")
	other.run("open project url", chromedp.Navigate(other.base+"/p/"+id))
	other.waitJS("sign-in page", `document.querySelector('h1')?.textContent === 'Welcome back'`)
	other.run("sign in",
		chromedp.SendKeys(`input[name=email]`, "other@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "wrong password", chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
	)
	other.waitJS("wrong password error", `(document.querySelector('[role=alert]')?.textContent ?? '').includes('wrong email or password')`)
	other.screenshot("login-error")
	other.run("sign in again",
		chromedp.Click(`input[name=password]`, chromedp.ByQuery),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(input.ModifierCtrl)),
		chromedp.KeyEvent("other password"),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
	)
	other.waitJS("dashboard", `document.querySelector('#dash-title')?.textContent === 'Your projects'`)
	if n := other.count(".project-card", "Secret"); n != 0 {
		t.Errorf("other user's dashboard lists the owner's project")
	}
	other.run("open owner's project", chromedp.Navigate(other.base+"/p/"+id))
	other.waitJS("not found", `document.querySelector('h1')?.textContent === 'Project not found'`)
	other.screenshot("not-found")
	for _, path := range []string{"", "/runs", "/files", "/thumbnail.png"} {
		var status int
		other.evalAsync(fmt.Sprintf(`fetch('/api/projects/%s%s').then(r => r.status)`, id, path), &status)
		if status != 404 {
			t.Errorf("other user's GET /api/projects/{id}%s from the page = %d, want 404", path, status)
		}
	}

	other.run("sign out", chromedp.Navigate(other.base+"/"))
	other.waitJS("dashboard", `!!document.querySelector('.topbar')`)
	other.run("click sign out", chromedp.Click(`.topbar-right .btn-ghost`, chromedp.ByQuery))
	other.waitJS("signed out", `document.querySelector('h1')?.textContent === 'Welcome back'`)
}
