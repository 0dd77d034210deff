package screenshot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A page that counts its visits in localStorage, to see what a tab keeps.
const counterPage = `<!doctype html><html><body><script>
var n = Number(localStorage.getItem("n") || 0) + 1; localStorage.setItem("n", n); document.title = "visit " + n;
</script></body></html>`

// visit loads url in a new tab of b and returns the page's title.
func visit(t *testing.T, b *Browser, url string) (title string, process *os.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tab, closeTab, err := b.Tab(ctx)
	if err != nil {
		t.Fatalf("Tab: %v", err)
	}
	defer closeTab()
	if err := chromedp.Run(tab, chromedp.Navigate(url), chromedp.Title(&title)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	return title, chromedp.FromContext(tab).Browser.Process()
}

func TestBrowserSharesOneProcessWithSeparateTabs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, counterPage)
	}))
	defer srv.Close()
	b := newBrowser(t)

	title1, p1 := visit(t, b, srv.URL)
	title2, p2 := visit(t, b, srv.URL)
	if p1 == nil || p2 == nil || p1.Pid != p2.Pid {
		t.Fatalf("tabs ran in processes %v and %v; want one shared browser", p1, p2)
	}
	// Each tab has its own storage: the second visit does not see the first.
	if title1 != "visit 1" || title2 != "visit 1" {
		t.Errorf("titles %q, %q; want each tab to start with empty storage", title1, title2)
	}

	// A browser that died is started again at the next use.
	if err := p1.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.cur.alive() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, p3 := visit(t, b, srv.URL); p3.Pid == p1.Pid {
		t.Errorf("after a crash the tab ran in the dead process %d", p1.Pid)
	}

	// Close stops the process and its profile, and later tabs are refused.
	profile := b.cur.profile
	running := chromedp.FromContext(b.cur.ctx).Browser.Process()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := running.Signal(syscall.Signal(0)); err == nil {
		t.Errorf("chromium %d still runs after Close", running.Pid)
	}
	if _, err := os.Stat(profile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("profile %s still there after Close: %v", profile, err)
	}
	if _, _, err := b.Tab(t.Context()); !errors.Is(err, ErrBrowserClosed) {
		t.Errorf("Tab after Close: err = %v, want ErrBrowserClosed", err)
	}
}

func TestBrowserThatCannotStart(t *testing.T) {
	b := NewBrowser("/nonexistent/chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := b.Ready(ctx); err == nil {
		t.Fatal("Ready with a missing binary succeeded")
	}
	// The failed start is forgotten: the next call tries again, and fails again.
	if _, _, err := b.Tab(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Tab after a failed start: err = %v (ctx %v); want the start error again", err, ctx.Err())
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
