// Package preview serves sandbox ports to the browser on their own origins,
// {port}-{sandboxId}.{previewDomain}, through a reverse proxy.
package preview

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Dialer reaches sandbox ports; sandbox.Provider is one.
type Dialer interface {
	Get(ctx context.Context, id string) (sandbox.Info, error)
	DialPort(ctx context.Context, id string, port int) (net.Conn, error)
}

// Waker is what a lifecycle manager adds: the proxy counts preview traffic
// as activity and wakes a stopped sandbox instead of turning the visitor
// away.
type Waker interface {
	Touch(id string)
	// Wake starts a stopped sandbox in the background.
	Wake(id string)
	// Waking reports whether the sandbox is (re)starting, so a port that
	// does not answer yet means "starting", not "broken".
	Waking(id string) bool
}

// Proxy is the preview reverse proxy.
type Proxy struct {
	sandboxes Dialer
	access    Access
	logger    *slog.Logger
	proxy     *httputil.ReverseProxy
	// reports are browser errors posted by the injected script (errors.go).
	reports reports
}

// targetKey carries the sandbox and port from the handler to the dialer.
type targetKey struct{}

type target struct {
	sandboxID string
	port      int
}

// New builds the proxy; access decides which requests it admits.
func New(sandboxes Dialer, access Access, logger *slog.Logger) *Proxy {
	p := &Proxy{sandboxes: sandboxes, access: access, logger: logger}
	transport := &http.Transport{
		// Every sandbox port is its own "host" to the pool, so connections
		// are reused per sandbox and port, never across them.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			t, ok := ctx.Value(targetKey{}).(target)
			if !ok {
				return nil, errors.New("preview: no target in context")
			}
			return sandboxes.DialPort(ctx, t.sandboxID, t.port)
		},
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(target)
			pr.Out.URL.Scheme = "http"
			// The pool key; the dialer ignores it and dials the sandbox.
			pr.Out.URL.Host = fmt.Sprintf("%s.sandbox:%d", t.sandboxID, t.port)
			// Dev servers that check Host (Vite) accept localhost.
			pr.Out.Host = "localhost:" + strconv.Itoa(t.port)
			pr.SetXForwarded()
			// The app's credentials never reach generated code.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del(TokenHeader)
			// A page must come uncompressed to get the error reporter
			// (dev servers such as Vite compress when asked); assets
			// keep their compression.
			if acceptsHTML(pr.In) {
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		// HTML pages get a small script that reports browser errors back.
		ModifyResponse: injectReporter,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t := r.Context().Value(targetKey{}).(target)
			if w8, ok := sandboxes.(Waker); ok && w8.Waking(t.sandboxID) {
				startingPage(w)
				return
			}
			p.logger.Info("preview upstream failed", "sandbox_id", t.sandboxID, "port", t.port, "err", err)
			page(w, http.StatusBadGateway, "The app is not answering",
				fmt.Sprintf("Nothing answered on port %d in this sandbox. The dev server may still be starting, or it stopped; send a prompt to restart it.", t.port))
		},
	}
	return p
}

// Serve proxies r to port of sandboxID if its credential admits it.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, sandboxID string, port int) {
	if !p.admit(w, r, sandboxID, port) {
		return
	}
	if r.URL.Path == ReportPath {
		p.receiveReport(w, r, sandboxID)
		return
	}
	info, err := p.sandboxes.Get(r.Context(), sandboxID)
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
		page(w, http.StatusNotFound, "No such preview", "This preview does not exist, or its sandbox was deleted.")
		return
	case err != nil:
		p.logger.Error("preview lookup", "sandbox_id", sandboxID, "err", err)
		page(w, http.StatusBadGateway, "Preview unavailable", "The sandbox engine did not answer. Try again in a moment.")
		return
	case info.State != sandbox.StateRunning:
		if w8, ok := p.sandboxes.(Waker); ok {
			w8.Wake(sandboxID)
			startingPage(w)
			return
		}
		page(w, http.StatusServiceUnavailable, "This sandbox is stopped", "Open the project and send a prompt to start it again.")
		return
	}
	if w8, ok := p.sandboxes.(Waker); ok {
		w8.Touch(sandboxID)
	}
	ctx := context.WithValue(r.Context(), targetKey{}, target{sandboxID: sandboxID, port: port})
	p.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// acceptsHTML reports whether r asks for a page (a navigation or an
// iframe) rather than an asset.
func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · QuickVibe</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#0f1115;color:#e6e6e6}
main{max-width:32rem;padding:2rem}h1{font-size:1.4rem}p{color:#a9b1bd}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p></main></body></html>`))

// page answers with a small HTML page; previews are seen in a browser frame.
func page(w http.ResponseWriter, status int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message string }{title, message})
}

// startingPage answers while a stopped sandbox wakes up: it reloads itself
// every second until the app answers in its place.
func startingPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = startingTemplate.Execute(w, nil)
}

var startingTemplate = template.Must(template.New("starting").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="1">
<title>Starting… · QuickVibe</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#0f1115;color:#e6e6e6}
main{max-width:32rem;padding:2rem}h1{font-size:1.4rem}p{color:#a9b1bd}</style></head>
<body><main><h1>Starting…</h1><p>This sandbox was asleep and is starting again. The page reloads by itself when the app answers.</p></main></body></html>`))
