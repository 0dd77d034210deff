// Package daytonatest is a fake Daytona for tests: an httptest server that
// speaks Daytona's control-plane REST API, its toolbox API and its preview
// proxy on the wire, backed by a real sandbox engine so commands really
// run. Each fake Daytona sandbox owns one sandbox of Options.Backend, and
// Daytona's work dir (/workspace) is that sandbox's workspace.
//
// It is test code in a normal package so that several packages' tests can
// import it; non-test code must not.
//
// Where the backend cannot do what Daytona's daemon does, the fake says so
// rather than pretend:
//   - Session commands each run as their own backend process, so `cd` and
//     `export` do not carry over between commands of a session; stdin
//     (/command/{id}/input) is not served.
//   - A PTY that ends by itself is reported as exit 0 (the backend terminal
//     reports no exit code); one deleted through the API as SIGKILL. Its
//     cwd and envs are ignored.
//   - Only the work dir (/workspace) is served: other absolute paths are a
//     400 daemon error.
//   - Rate limits are reported in headers but only enforced through Inject.
package daytonatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Defaults of Options.
const (
	DefaultAPIKey   = "dtn_test_key"
	DefaultSnapshot = "daytona-small"
	// ProxyDomain is the domain of the fake's preview hosts; Client
	// routes them to the preview proxy.
	ProxyDomain = "daytona-proxy.localhost"
	// WorkDir is Daytona's work dir inside every fake sandbox; it is the
	// backend sandbox's workspace.
	WorkDir = "/workspace"
	// HomeDir is what GET /user-home-dir answers.
	HomeDir = "/home/daytona"
	// Version is the daemon version the fake reports.
	Version = "0.190.0"
)

// Options configures a fake Daytona.
type Options struct {
	Backend    sandbox.Provider // runs the sandboxes
	APIKey     string           // accepted bearer key; default "dtn_test_key"
	Snapshots  []string         // known snapshots (ids = names); default {"daytona-small"}
	StartDelay time.Duration    // creating/starting -> started (default 0: immediate)
	// ServerWait is how long POST /sandbox and /start wait server-side for
	// started before answering (Daytona: 30s; default here 0 = answer at once).
	ServerWait time.Duration
	ListShape  string // "cursor" (default, {items,nextCursor}) or "array" (legacy bare array)
	PageSize   int    // cursor page size cap for tests of paging (default 100)
}

// Request is one request the fake received, for assertions on headers
// (auth sent, tokens never leaked).
type Request struct {
	Method string
	Host   string
	Path   string
	Query  string
	Header http.Header
}

// Server is a running fake Daytona: the API and the toolbox on one
// listener, the preview proxy on another.
type Server struct {
	opts  Options
	api   *httptest.Server
	proxy *httptest.Server
	// ctx ends background work (state transitions, streams) on Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	sandboxes map[string]*fakeSandbox // by Daytona id
	faults    []*Fault
	failNext  *startFailure
	requests  []Request
	signed    map[string]signedToken // signed preview tokens
	cookies   map[string]string      // preview auth cookie value -> sandbox id
	limits    *rateLimiter
	closed    bool
}

// New starts a fake Daytona.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("daytonatest: Options.Backend is required")
	}
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if len(opts.Snapshots) == 0 {
		opts.Snapshots = []string{DefaultSnapshot}
	}
	switch opts.ListShape {
	case "":
		opts.ListShape = "cursor"
	case "cursor", "array":
	default:
		return nil, fmt.Errorf("daytonatest: unknown ListShape %q (want cursor or array)", opts.ListShape)
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		ctx:       ctx,
		cancel:    cancel,
		sandboxes: make(map[string]*fakeSandbox),
		signed:    make(map[string]signedToken),
		cookies:   make(map[string]string),
		limits:    newRateLimiter(),
	}
	s.api = httptest.NewServer(s.record(s.apiAndToolbox()))
	s.proxy = httptest.NewServer(s.record(http.HandlerFunc(s.servePreview)))
	return s, nil
}

// Close stops the servers, ends background work and deletes the backend
// sandboxes the fake created.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.api.CloseClientConnections()
	s.proxy.CloseClientConnections()
	s.api.Close()
	s.proxy.Close()
	s.wg.Wait()
	s.mu.Lock()
	var sbs []*fakeSandbox
	for _, sb := range s.sandboxes {
		sbs = append(sbs, sb)
	}
	s.mu.Unlock()
	for _, sb := range sbs {
		sb.closeTerminals()
		if sb.backendID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = s.opts.Backend.Delete(ctx, sb.backendID)
			cancel()
		}
	}
}

// APIURL is the base of the REST API, e.g. http://127.0.0.1:PORT/api.
func (s *Server) APIURL() string { return s.api.URL + "/api" }

// toolboxURL is what the fake hands out as toolboxProxyUrl.
func (s *Server) toolboxURL() string { return s.api.URL + "/toolbox" }

// proxyPort is the preview proxy's port, part of every preview URL.
func (s *Server) proxyPort() string {
	_, port, _ := net.SplitHostPort(s.proxy.Listener.Addr().String())
	return port
}

// previewURL is the URL of a preview host for port and a sandbox id or
// signed token.
func (s *Server) previewURL(port int, idOrToken string) string {
	return fmt.Sprintf("http://%d-%s.%s:%s", port, idOrToken, ProxyDomain, s.proxyPort())
}

// Client returns an HTTP client that reaches the fake's preview hosts
// ({port}-{id}.daytona-proxy.localhost) through its preview proxy, like
// httptest.Server.Client; every other host is dialled normally.
func (s *Server) Client() *http.Client {
	proxyAddr := s.proxy.Listener.Addr().String()
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && strings.HasSuffix(host, "."+ProxyDomain) {
				addr = proxyAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: false,
		MaxIdleConns:      10,
		IdleConnTimeout:   30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// PreviewToken returns the sandbox's current standard preview token; it
// changes whenever the sandbox starts again.
func (s *Server) PreviewToken(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.lookupLocked(id); sb != nil {
		return sb.authToken
	}
	return ""
}

// record notes every request before handling it.
func (s *Server) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(),
		})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// goBackground runs fn as tracked background work that Close waits for.
func (s *Server) goBackground(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}
