package daytona

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// Ports the toolbox can check (reference §1.8 /port/{port}/in-use).
const (
	minPort = 3000
	maxPort = 9999
)

// previewLink is Daytona's preview URL of one port and the standard
// preview token that unlocks it. The token also unlocks the toolbox, so it
// never leaves this package.
type previewLink struct {
	url   *url.URL
	token string
}

// DialPort implements sandbox.Provider, for HTTP only. Daytona offers no
// raw TCP into a sandbox, so the returned conn is one end of an in-memory
// pipe whose other end is served by a reverse proxy to Daytona's preview
// URL for the port: speak HTTP/1.1 over it (WebSocket upgrades work); any
// other protocol fails. The proxy adds the preview token and the headers
// that skip Daytona's warning page and CORS policy, keeps
// X-Forwarded-Host, and drops Daytona's cookies from responses, so no
// Daytona credential reaches whoever reads the conn. A 401 or 403 (the
// token changes when the sandbox restarts) refreshes the URL once.
//
// Only ports 3000-9999 can be dialled, and only while something listens
// on them (checked with the toolbox first; the error wraps
// toolbox.ErrPortNotAnswering otherwise).
func (p *Provider) DialPort(ctx context.Context, id string, port int) (net.Conn, error) {
	if port < minPort || port > maxPort {
		return nil, fmt.Errorf("dial port %d: the Daytona engine can only reach ports %d-%d", port, minPort, maxPort)
	}
	var inUse struct {
		IsInUse bool `json:"isInUse"`
	}
	if err := p.tbJSON(ctx, id, call{method: http.MethodGet, path: "/port/" + strconv.Itoa(port) + "/in-use"}, nil, &inUse); err != nil {
		return nil, fmt.Errorf("dial port %d: %w", port, err)
	}
	if !inUse.IsInUse {
		return nil, fmt.Errorf("dial port %d of sandbox %s: nothing listens: %w", port, id, toolbox.ErrPortNotAnswering)
	}
	if _, err := p.preview(ctx, id, port, false); err != nil {
		return nil, fmt.Errorf("dial port %d: %w", port, err)
	}
	client, server := net.Pipe()
	go p.servePreview(id, port, server)
	return client, nil
}

// preview returns the port's preview link, from the cache unless refresh.
func (p *Provider) preview(ctx context.Context, id string, port int, refresh bool) (previewLink, error) {
	if !refresh {
		if l, ok := p.cachedPreview(id, port); ok {
			return l, nil
		}
	}
	var out struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	path := sandboxPath(id) + "/ports/" + strconv.Itoa(port) + "/preview-url"
	if err := p.api(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return previewLink{}, fmt.Errorf("get preview URL: %w", err)
	}
	u, err := url.Parse(out.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return previewLink{}, fmt.Errorf("get preview URL: Daytona answered an unusable URL %q", out.URL)
	}
	l := previewLink{url: u, token: out.Token}
	b := p.box(id)
	p.mu.Lock()
	b.previews[port] = l
	p.mu.Unlock()
	return l, nil
}

func (p *Provider) cachedPreview(id string, port int) (previewLink, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.boxes[id]; b != nil {
		l, ok := b.previews[port]
		return l, ok
	}
	return previewLink{}, false
}

// SignedPreviewURL returns Daytona's signed preview URL of a port, valid
// for ttl (1 s to 24 h; zero means one hour). It is port-bound and
// expiring, and cannot reach the toolbox, so unlike the standard token it
// may be handed to a browser.
func (p *Provider) SignedPreviewURL(ctx context.Context, id string, port int, ttl time.Duration) (string, error) {
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("signed preview URL: invalid port %d", port)
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	secs := int((ttl + time.Second - 1) / time.Second)
	if secs < 1 || secs > 86400 {
		return "", fmt.Errorf("signed preview URL: lifetime %s is outside 1s-24h", ttl)
	}
	var out struct {
		URL string `json:"url"`
	}
	path := sandboxPath(id) + "/ports/" + strconv.Itoa(port) + "/signed-preview-url"
	q := url.Values{"expiresInSeconds": {strconv.Itoa(secs)}}
	if err := p.api(ctx, http.MethodGet, path, q, nil, &out); err != nil {
		return "", fmt.Errorf("signed preview URL of sandbox %s port %d: %w", id, port, err)
	}
	return out.URL, nil
}

// servePreview serves HTTP on conn until it closes, proxying to the port's
// preview URL.
func (p *Provider) servePreview(id string, port int, conn net.Conn) {
	ln := newOneConnListener(conn)
	log := p.log.With("sandbox", id, "port", port)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			l, _ := p.cachedPreview(id, port)
			if l.url == nil {
				// Dropped from the cache by a stop meanwhile; the
				// transport fetches it again.
				l = previewLink{url: &url.URL{Scheme: "http", Host: "invalid.invalid"}}
			}
			pr.SetURL(l.url)
			host := pr.In.Header.Get("X-Forwarded-Host")
			if host == "" {
				host = pr.In.Host
			}
			pr.Out.Header.Set("X-Forwarded-Host", host)
			pr.Out.Header.Set("X-Forwarded-Proto", "http")
			setPreviewHeaders(pr.Out.Header, l.token)
		},
		Transport:      &previewTransport{p: p, id: id, port: port, base: p.transport()},
		ModifyResponse: stripDaytonaCredentials,
		FlushInterval:  -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("preview proxy", "err", err)
			http.Error(w, "the sandbox's preview could not be reached", http.StatusBadGateway)
		},
	}
	srv := &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("preview conn ended", "err", err)
	}
}

// setPreviewHeaders replaces whatever Daytona headers the caller sent with
// the engine's own.
func setPreviewHeaders(h http.Header, token string) {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Daytona-") {
			delete(h, k)
		}
	}
	if token != "" {
		h.Set("X-Daytona-Preview-Token", token)
	}
	h.Set("X-Daytona-Skip-Preview-Warning", "true")
	h.Set("X-Daytona-Disable-CORS", "true")
	// Preview traffic keeps the sandbox awake like Daytona's own proxy
	// does; that is the point of a preview being open.
}

// stripDaytonaCredentials drops Daytona's cookies (the preview auth and
// warning cookies) and headers from a preview response.
func stripDaytonaCredentials(resp *http.Response) error {
	cookies := resp.Header.Values("Set-Cookie")
	resp.Header.Del("Set-Cookie")
	for _, c := range cookies {
		name, _, _ := strings.Cut(c, "=")
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(name)), "daytona") {
			resp.Header.Add("Set-Cookie", c)
		}
	}
	for k := range resp.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Daytona-") {
			delete(resp.Header, k)
		}
	}
	return nil
}

func (p *Provider) transport() http.RoundTripper {
	if p.hc.Transport != nil {
		return p.hc.Transport
	}
	return http.DefaultTransport
}

// previewTransport sends preview requests, fetching the preview link again
// once when Daytona refuses it (the token changes on every restart) or
// when it was dropped from the cache.
type previewTransport struct {
	p    *Provider
	id   string
	port int
	base http.RoundTripper
}

func (t *previewTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := t.p.cachedPreview(t.id, t.port); !ok {
		l, err := t.p.preview(req.Context(), t.id, t.port, true)
		if err != nil {
			return nil, err
		}
		req = retarget(req, l)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent; cannot send it again
	}
	l, err := t.p.preview(req.Context(), t.id, t.port, true)
	if err != nil {
		t.p.log.Warn("refresh preview URL", "sandbox", t.id, "port", t.port, "err", err)
		return resp, nil
	}
	resp.Body.Close()
	again := retarget(req, l)
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.base.RoundTrip(again)
}

// retarget points a copy of req at link.
func retarget(req *http.Request, l previewLink) *http.Request {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host = l.url.Scheme, l.url.Host
	r.Host = ""
	setPreviewHeaders(r.Header, l.token)
	return r
}

// oneConnListener hands out one conn, then blocks until that conn is
// closed, so an http.Server serves exactly it and Serve returns after.
type oneConnListener struct {
	conn net.Conn
	once sync.Once
	mu   sync.Mutex
	used bool
	done chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{done: make(chan struct{})}
	l.conn = &notifyConn{Conn: c, closed: l.Close}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	used := l.used
	l.used = true
	l.mu.Unlock()
	if !used {
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return pipeAddr{} }

// notifyConn tells the listener when the server (or the reverse proxy,
// after a WebSocket hijack) closes the conn.
type notifyConn struct {
	net.Conn
	closed func() error
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	_ = c.closed()
	return err
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "daytona-preview" }
