package run

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/quickvibe/quickvibe/internal/preview"
)

// Bounds of the browser check. The page gets a moment after its load event,
// because games and apps often throw on their first animation frame or
// timer rather than while loading.
const (
	defaultBrowserStartWait = 20 * time.Second
	defaultBrowserCheckTime = 5 * time.Second
	pageSettle              = 300 * time.Millisecond
	// maxPageErrors bounds what one check tells the model; the first
	// errors are the ones that matter.
	maxPageErrors = 10
	// checkHeader carries the secret of one check's listener.
	checkHeader = "X-Qv-Page-Check"
)

// newPageProxy is the preview proxy the check loads pages through, shared
// by every check of the manager so its connections to dev servers are
// reused.
func newPageProxy(sandboxes preview.Dialer, logger *slog.Logger) *preview.Proxy {
	return preview.New(sandboxes, preview.Access{Policy: pagePolicy{}}, logger)
}

// pagePolicy lets the check's own preview proxy admit its browser, which
// carries no preview token: that proxy is reached only through a loopback
// listener that lives for one check.
type pagePolicy struct{}

func (pagePolicy) PublicPreview(context.Context, string) (bool, error)          { return true, nil }
func (pagePolicy) SubjectAllowed(context.Context, string, string) (bool, error) { return false, nil }

// browserErrorsOnLoad loads the app's page in headless Chromium and returns
// the errors it reported, so a page that throws on load is caught even when
// nobody has the preview open.
//
// The page is loaded through a preview proxy, so the same injected script
// that reports errors from users' previews reports them here: one mechanism,
// one wording of the errors, and what the model is told matches what a user
// would see. Reading exceptions over the DevTools protocol would need no
// proxy, but would be a second way of catching errors with its own gaps.
//
// A browser that cannot start or a page that does not load in time is not
// the app's fault: that is logged, and the check reports what it saw.
func (m *Manager) browserErrorsOnLoad(runCtx context.Context, sandboxID string, port int, logger *slog.Logger) []string {
	startCtx, cancelStart := context.WithTimeout(runCtx, m.cfg.BrowserStartWait)
	err := m.cfg.Browser.Ready(startCtx)
	cancelStart()
	if err != nil {
		if runCtx.Err() == nil {
			logger.Warn("browser check skipped: chromium did not start", "err", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(runCtx, m.cfg.BrowserCheckTime)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Warn("browser check skipped: no loopback listener", "err", err)
		return nil
	}
	origin := "http://" + ln.Addr().String()
	// Only the check's tab may use the listener: every request of the tab
	// carries this secret, which other local processes cannot know.
	secret := rand.Text()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get(checkHeader)), []byte(secret)) != 1 {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			r.Header.Del(checkHeader)
			m.pageProxy.Serve(w, r, sandboxID, port)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stopServer := func() {
		// Shutdown waits for reports still being posted; Close ends the
		// rest (a page's own long polls) when that takes too long.
		shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancelShutdown()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close() // Shutdown's error already says why
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("browser check proxy", "err", err)
		}
	}

	start := time.Now()
	tab, closeTab, err := m.cfg.Browser.Tab(ctx)
	if err != nil {
		stopServer()
		logger.Warn("browser check skipped: no tab", "err", err)
		return nil
	}
	err = chromedp.Run(tab,
		network.SetExtraHTTPHeaders(network.Headers{checkHeader: secret}),
		chromedp.Navigate(origin+"/"), chromedp.Sleep(pageSettle))
	closeTab()
	stopServer()
	if runCtx.Err() != nil {
		return nil // the run ends anyway
	}
	if err != nil {
		// Not the app's fault as such (a slow resource, a long poll); the
		// errors reported until then still count.
		logger.Info("browser check: the page did not finish loading", "after", time.Since(start).Round(time.Millisecond), "err", err)
	}
	var errs []string
	for _, e := range m.pageProxy.BrowserErrors(sandboxID, start) {
		// The loopback address means nothing to the model; the paths do.
		errs = append(errs, strings.ReplaceAll(e, origin, ""))
	}
	return errs
}

// pageErrorsProblem words the errors of a page the check loaded.
func pageErrorsProblem(errs []string) string {
	more := ""
	if len(errs) > maxPageErrors {
		more = fmt.Sprintf("\n(and %d more)", len(errs)-maxPageErrors)
		errs = errs[:maxPageErrors]
	}
	return "Loading the app's page in a browser (headless Chromium) reported errors:\n" + strings.Join(errs, "\n") + more
}
