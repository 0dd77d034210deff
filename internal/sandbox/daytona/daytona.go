// Package daytona is the remote sandbox engine: every QuickVibe sandbox is
// a Daytona sandbox, driven over Daytona's REST API (control plane) and the
// toolbox API of each sandbox (data plane). It is a thin handwritten client
// over net/http; Daytona's SDK is not used because it drags in the AWS SDK
// and OpenTelemetry.
//
// Mapping onto sandbox.Provider:
//   - a sandbox is created from a snapshot, labelled quickvibe.<key> plus
//     quickvibe.managed=true, private (public:false), and polled until
//     "started"; its project lives in Config.Workspace under Daytona's work
//     dir;
//   - Exec is /process/execute, files are the /files endpoints, background
//     processes are one toolbox session per process name, the terminal is a
//     toolbox PTY;
//   - DialPort carries HTTP only (Daytona offers no raw TCP): see DialPort.
//
// Everything but the lifecycle goes through the sandbox's toolbox, which
// only answers while the sandbox is started: on a stopped (or archived)
// sandbox, files, processes, the terminal and Usage fail with
// sandbox.ErrNotRunning; Start it first.
package daytona

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

var _ sandbox.Provider = (*Provider)(nil)

// Defaults of Config.
const (
	DefaultAPIURL      = "https://app.daytona.io/api"
	DefaultWorkspace   = "workspace"
	DefaultExecTimeout = 2 * time.Minute
)

// Identification sent with every request. The SDK version also selects the
// toolbox's log format: from 0.167.0 on, HTTP logs are JSON and streams
// carry the stdout/stderr markers (reference §1.8).
const (
	sdkVersion = "0.190.0"
	sourceName = "quickvibe"
)

// Config configures the engine.
type Config struct {
	// APIURL is Daytona's API base, e.g. https://app.daytona.io/api
	// (DAYTONA_API_URL; empty means DefaultAPIURL).
	APIURL string
	// APIKey authenticates every call (DAYTONA_API_KEY). Required. It is
	// never sent into a sandbox nor handed to a browser.
	APIKey string
	// Target is the region (DAYTONA_TARGET); empty lets Daytona choose.
	Target string
	// Snapshot new sandboxes start from (DAYTONA_SNAPSHOT); empty means
	// Daytona's default snapshot. Resources come with the snapshot.
	Snapshot string
	// AutoStop, AutoArchive and AutoDelete are Daytona's idle intervals,
	// sent rounded up to whole minutes. Zero leaves Daytona's default
	// (stop after 15 min, archive after 7 days, never delete). Negative
	// means off: AutoStop never stops, AutoArchive waits Daytona's maximum
	// (30 days; it cannot be switched off), AutoDelete never deletes.
	AutoStop, AutoArchive, AutoDelete time.Duration
	// Workspace is the directory under the sandbox's work dir that holds
	// the project (default "workspace"); every path is relative to it.
	Workspace string
	// ExecTimeout applies to Exec requests without a timeout (default 2m).
	ExecTimeout time.Duration
	// HTTPClient carries every request; nil means a client with dial and
	// TLS timeouts (no overall timeout: streams and long commands must
	// live on).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now and Sleep drive polling and backoff; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Provider implements sandbox.Provider on Daytona.
type Provider struct {
	apiURL   *url.URL
	apiKey   string
	target   string
	snapshot string
	// Idle intervals in minutes as sent; nil leaves Daytona's default.
	autoStop, autoArchive, autoDelete *int
	workspace                         string
	execTimeout                       time.Duration
	hc                                *http.Client
	ownClient                         bool // hc was made here, so Close may release it
	log                               *slog.Logger
	now                               func() time.Time
	sleep                             func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	boxes map[string]*boxCache
}

// boxCache holds what one sandbox's toolbox calls need and what does not
// change while it runs.
type boxCache struct {
	toolbox  toolboxRef // zero until learned
	previews map[int]previewLink
	// lineTimes holds when each log line of a session command was first
	// read (Daytona keeps no timestamps), so a line keeps its Time on
	// every read. Key: session id + "/" + command id.
	lineTimes map[string][]time.Time
}

// toolboxRef is where a sandbox's toolbox answers.
type toolboxRef struct {
	url     string // toolboxProxyUrl + "/" + id
	workDir string // absolute; Daytona's work dir
}

// New validates cfg and returns the engine. It makes no network call;
// Ready checks the key and the snapshot.
func New(cfg Config) (*Provider, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("daytona: config: an API key is required (DAYTONA_API_KEY)")
	}
	raw := cfg.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("daytona: config: API URL %q (DAYTONA_API_URL): %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("daytona: config: API URL %q (DAYTONA_API_URL) must be an http(s) URL such as %s", raw, DefaultAPIURL)
	}
	ws := cfg.Workspace
	if ws == "" {
		ws = DefaultWorkspace
	}
	if clean, err := sandbox.CleanPath(ws); err != nil || clean == "." {
		return nil, fmt.Errorf("daytona: config: workspace %q must be a relative directory below the work dir", cfg.Workspace)
	}
	p := &Provider{
		apiURL:   u,
		apiKey:   cfg.APIKey,
		target:   cfg.Target,
		snapshot: cfg.Snapshot,
		// Daytona: 0 disables auto-stop, 0 archives after the maximum,
		// a negative interval disables auto-delete.
		autoStop:    interval(cfg.AutoStop, 0),
		autoArchive: interval(cfg.AutoArchive, 0),
		autoDelete:  interval(cfg.AutoDelete, -1),
		workspace:   strings.Trim(ws, "/"),
		execTimeout: cfg.ExecTimeout,
		hc:          cfg.HTTPClient,
		log:         cfg.Logger,
		now:         cfg.Now,
		sleep:       cfg.Sleep,
		boxes:       make(map[string]*boxCache),
	}
	if p.execTimeout <= 0 {
		p.execTimeout = DefaultExecTimeout
	}
	if p.hc == nil {
		p.hc = newHTTPClient()
		p.ownClient = true
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("engine", "daytona")
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = sleepCtx
	}
	return p, nil
}

// interval is d in whole minutes (rounded up) as Daytona wants it: nil
// for zero (Daytona's default), off for a negative d.
func interval(d time.Duration, off int) *int {
	switch {
	case d == 0:
		return nil
	case d < 0:
		return &off
	}
	return new(int((d + time.Minute - 1) / time.Minute))
}

func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name implements sandbox.Provider.
func (p *Provider) Name() string { return "daytona" }

// Ready implements sandbox.Provider: the API key must be accepted and the
// configured snapshot must exist. Both checks are cheap GETs.
func (p *Provider) Ready(ctx context.Context) error {
	// Listing needs a valid key and costs one small page.
	q := url.Values{"limit": {"1"}}
	if err := p.api(ctx, http.MethodGet, "/sandbox", q, nil, nil); err != nil {
		return fmt.Errorf("daytona at %s: %w", p.apiURL.Redacted(), err)
	}
	if p.snapshot == "" {
		return nil
	}
	err := p.api(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(p.snapshot), nil, nil, nil)
	if errors.Is(err, sandbox.ErrNotFound) {
		return fmt.Errorf("snapshot %s not found in Daytona; set DAYTONA_SNAPSHOT to an existing snapshot", p.snapshot)
	}
	if err != nil {
		return fmt.Errorf("daytona: check snapshot %s: %w", p.snapshot, err)
	}
	return nil
}

// Close implements sandbox.Provider. It only releases this process's HTTP
// connections: it stops nothing remote, because Daytona sandboxes outlive
// the server and Daytona's own auto-stop (Config.AutoStop) handles idle
// ones.
func (p *Provider) Close() error {
	if p.ownClient {
		p.hc.CloseIdleConnections()
	}
	return nil
}

// box returns the cache entry of a sandbox, creating it.
func (p *Provider) box(id string) *boxCache {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.boxes[id]
	if b == nil {
		b = &boxCache{previews: make(map[int]previewLink), lineTimes: make(map[string][]time.Time)}
		p.boxes[id] = b
	}
	return b
}

// forget drops what is cached about a sandbox: after a start (the preview
// token changes) or a stop or delete.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.boxes, id)
}
