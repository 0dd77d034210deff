package daytonatest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Preview proxy: hosts {port}-{sandboxId|signedToken}.daytona-proxy.localhost.

const (
	authCookiePrefix    = "daytona-sandbox-auth-"
	warningCookie       = "daytona-preview-page-accepted"
	previewTokenHeader  = "X-Daytona-Preview-Token"
	previewTokenQuery   = "DAYTONA_SANDBOX_AUTH_KEY"
	skipWarningHeader   = "X-Daytona-Skip-Preview-Warning"
	acceptWarningPath   = "/accept-daytona-preview-warning"
	previewBackendSufx  = ".backend.invalid"
	previewCookieMaxAge = 3600
)

// parsePreviewHost splits {port}-{idOrToken}.{ProxyDomain}.
func parsePreviewHost(host string) (port int, idOrToken string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, ok := strings.CutSuffix(host, "."+ProxyDomain)
	if !ok {
		return 0, "", false
	}
	p, rest, ok := strings.Cut(label, "-")
	if !ok || rest == "" {
		return 0, "", false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, "", false
	}
	return port, rest, true
}

func isBrowser(r *http.Request) bool {
	return strings.Contains(r.UserAgent(), "Mozilla/")
}

// isUpgrade: WebSocket (and other upgrade) requests never get the
// warning page or the login redirect.
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != ""
}

func (s *Server) servePreview(w http.ResponseWriter, r *http.Request) {
	port, idOrToken, ok := parsePreviewHost(r.Host)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "bad request: invalid host " + r.Host})
		return
	}
	if r.URL.Path == acceptWarningPath && r.Method == http.MethodPost {
		http.SetCookie(w, &http.Cookie{Name: warningCookie, Value: "true", Path: "/", MaxAge: 24 * 3600, HttpOnly: true})
		redirect := r.URL.Query().Get("redirect")
		if redirect == "" || !strings.HasPrefix(redirect, "/") {
			redirect = "/"
		}
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	}

	s.mu.Lock()
	sb := s.sandboxes[idOrToken]
	signed, isSigned := s.signed[idOrToken]
	if sb == nil && isSigned && signed.port == port && time.Now().Before(signed.expires) {
		sb = s.sandboxes[signed.sandboxID]
	} else if sb == nil {
		isSigned = false
	}
	s.mu.Unlock()
	if sb == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "bad request: 404 Not Found"})
		return
	}

	if !s.previewAuthorized(w, r, sb, idOrToken, isSigned) {
		if isBrowser(r) && !isUpgrade(r) {
			login := fmt.Sprintf("%s/oauth/login?redirect=%s", s.api.URL, url.QueryEscape("http://"+r.Host+r.URL.RequestURI()))
			http.Redirect(w, r, login, http.StatusTemporaryRedirect)
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Unauthorized"})
		return
	}

	if isBrowser(r) && !isUpgrade(r) && r.Header.Get(skipWarningHeader) != "true" {
		if c, err := r.Cookie(warningCookie); err != nil || c.Value != "true" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, `<!doctype html><title>Preview warning</title><h1>You are about to visit a Daytona preview</h1>`+
				`<form method="POST" action="%s?redirect=%s"><button>Continue</button></form>`,
				acceptWarningPath, url.QueryEscape(r.URL.RequestURI()))
			return
		}
	}

	s.mu.Lock()
	state, backendID := sb.state, sb.backendID
	s.mu.Unlock()
	if state != "started" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "bad request: sandbox is not started"})
		return
	}
	if r.Header.Get("X-Daytona-Skip-Last-Activity-Update") != "true" {
		s.touch(sb)
	}
	s.forward(w, r, backendID, port)
}

// previewAuthorized applies Daytona's order: API key, preview token
// header, preview token query (stripped), the auth cookie, then a signed
// token in the host (which sets the cookie). Public sandboxes need none.
func (s *Server) previewAuthorized(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, idOrToken string, signedHost bool) bool {
	s.mu.Lock()
	public, token, id := sb.public, sb.authToken, sb.id
	s.mu.Unlock()
	if public || s.bearerOK(r) {
		return true
	}
	if token != "" && r.Header.Get(previewTokenHeader) == token {
		return true
	}
	q := r.URL.Query()
	if token != "" && q.Get(previewTokenQuery) == token {
		q.Del(previewTokenQuery)
		r.URL.RawQuery = q.Encode()
		return true
	}
	if c, err := r.Cookie(authCookiePrefix + idOrToken); err == nil {
		s.mu.Lock()
		owner := s.cookies[c.Value]
		s.mu.Unlock()
		if owner == id {
			return true
		}
	}
	if signedHost {
		value := newToken(32)
		s.mu.Lock()
		s.cookies[value] = id
		s.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: authCookiePrefix + idOrToken, Value: value, Path: "/", MaxAge: previewCookieMaxAge, HttpOnly: true})
		return true
	}
	return false
}

// forward proxies to the sandbox's port through Backend.DialPort, with
// Host rewritten to localhost:{port} as Daytona's hops do; nothing
// listening is a 502 with an empty body.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, backendID string, port int) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.opts.Backend.DialPort(ctx, backendID, port)
		},
		// Every request dials afresh: the sandbox may have restarted.
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	originalHost := r.Host
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = backendID + previewBackendSufx
			pr.Out.Host = "localhost:" + strconv.Itoa(port)
			pr.Out.Header.Set("X-Forwarded-Host", originalHost)
			pr.Out.Header.Del(previewTokenHeader)
			pr.Out.Header.Del(skipWarningHeader)
		},
		Transport:     tr,
		FlushInterval: 100 * time.Millisecond,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}
