// Package egress is the host-side HTTP(S) proxy that is a sandbox's only
// way out: CONNECT and absolute-form HTTP requests to an allowlist of
// domains, each checked again after resolution (no loopback, private,
// link-local, CGNAT, metadata or other special addresses, so an allowed
// name that resolves inward — DNS rebinding — is refused too), and dialed
// at exactly the address that was checked. Every refusal is logged and
// reported through Config.OnRefuse.
//
// Sandboxes reach it without any network: the toolbox listens on
// 127.0.0.1:3128 inside and hands each accepted connection to the host as
// one end of a fresh socket pair, over a Unix socket the host gave it at
// launch (see ServeSandbox).
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Refusal describes one refused request.
type Refusal struct {
	Sandbox string
	// Target is the requested host:port.
	Target string
	Reason string
}

// Config configures a Proxy.
type Config struct {
	// Allow lists the hosts that may be reached: "example.com" matches
	// exactly that name, "*.example.com" its subdomains only (not the apex).
	// Empty allows nothing.
	Allow []string
	// Ports that may be reached (default 80 and 443). CONNECT is allowed to
	// all of them.
	Ports []int
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
	// PermitAddrs are exempt from the address check: a private registry, or
	// a test server on loopback. Empty in production.
	PermitAddrs []netip.Prefix
	// MaxConns caps one sandbox's concurrent proxy connections (default 64).
	MaxConns int
	// OnRefuse, if set, is called for every refusal (after logging it).
	OnRefuse func(Refusal)
	Logger   *slog.Logger
}

// Proxy is the egress proxy. It is safe for concurrent use.
type Proxy struct {
	exact    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
	ports    map[int]bool
	resolver Resolver
	permit   []netip.Prefix
	maxConns int
	onRefuse func(Refusal)
	log      *slog.Logger

	subMu sync.Mutex
	subs  map[string]map[*subscription]struct{} // by sandbox
}

type subscription struct {
	mu        sync.Mutex // held while fn runs
	fn        func(Refusal)
	cancelled bool
}

// Subscribe calls fn for every refusal of sandbox's requests until cancel
// is called; a run uses it to show refusals as `log` events. Once cancel
// returns, fn is not running and will not be called again.
func (p *Proxy) Subscribe(sandbox string, fn func(Refusal)) (cancel func()) {
	sub := &subscription{fn: fn}
	p.subMu.Lock()
	if p.subs == nil {
		p.subs = map[string]map[*subscription]struct{}{}
	}
	if p.subs[sandbox] == nil {
		p.subs[sandbox] = map[*subscription]struct{}{}
	}
	p.subs[sandbox][sub] = struct{}{}
	p.subMu.Unlock()
	return func() {
		p.subMu.Lock()
		delete(p.subs[sandbox], sub)
		if len(p.subs[sandbox]) == 0 {
			delete(p.subs, sandbox)
		}
		p.subMu.Unlock()
		sub.mu.Lock()
		sub.cancelled = true
		sub.mu.Unlock()
	}
}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{
		exact:    map[string]bool{},
		ports:    map[int]bool{},
		resolver: cfg.Resolver,
		permit:   cfg.PermitAddrs,
		maxConns: cfg.MaxConns,
		onRefuse: cfg.OnRefuse,
		log:      cfg.Logger,
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "egress")
	if p.maxConns <= 0 {
		p.maxConns = 64
	}
	for _, a := range cfg.Allow {
		a = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a), "."))
		if a == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(a, "*."); ok {
			if !validHost(rest) {
				return nil, fmt.Errorf("egress: allowlist entry %q: want a domain name or *.domain", a)
			}
			p.suffixes = append(p.suffixes, "."+rest)
			continue
		}
		if !validHost(a) {
			return nil, fmt.Errorf("egress: allowlist entry %q: want a domain name or *.domain", a)
		}
		p.exact[a] = true
	}
	ports := cfg.Ports
	if len(ports) == 0 {
		ports = []int{80, 443}
	}
	for _, port := range ports {
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("egress: port %d out of range", port)
		}
		p.ports[port] = true
	}
	return p, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 || strings.ContainsAny(h, "*/:@[] ") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// Allowed reports whether host (a name, not an address) is on the
// allowlist.
func (p *Proxy) Allowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if p.exact[host] {
		return true
	}
	for _, s := range p.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// RefusedError is a request the policy does not allow.
type RefusedError struct {
	Target string
	Reason string
}

func (e *RefusedError) Error() string { return "egress to " + e.Target + " refused: " + e.Reason }

// check applies the policy to host:port and returns the addresses that
// may be dialed: all the name resolved to, each checked.
func (p *Proxy) check(ctx context.Context, target string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, &RefusedError{target, "not host:port"}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || !p.ports[port] {
		return nil, &RefusedError{target, "port " + portStr + " is not allowed"}
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		// An address has no name to check against the allowlist.
		return nil, &RefusedError{target, "IP addresses are not allowed, only allowlisted names"}
	}
	if !p.Allowed(host) {
		return nil, &RefusedError{target, "host is not on the allowlist"}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := p.resolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return nil, &RefusedError{target, "cannot resolve: " + err.Error()}
	}
	if len(addrs) == 0 {
		return nil, &RefusedError{target, "resolves to no address"}
	}
	// All must pass: a name with one inward-pointing record is suspect.
	for _, a := range addrs {
		if reason := p.forbidden(a); reason != "" {
			return nil, &RefusedError{target, "resolves to " + a.String() + ", " + reason}
		}
	}
	out := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return out, nil
}

// forbidden says why a is not a public address, or "".
func (p *Proxy) forbidden(a netip.Addr) string {
	for _, pfx := range p.permit {
		if pfx.Contains(a) {
			return ""
		}
	}
	if a.Is4In6() {
		return "an IPv4-mapped IPv6 address"
	}
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address (cloud metadata lives there)"
	case a.IsUnspecified(), a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "not a unicast address"
	}
	for _, s := range specialRanges {
		if s.pfx.Contains(a) {
			return s.why
		}
	}
	return ""
}

// specialRanges are refused besides loopback, private, link-local and
// multicast. Documentation and benchmarking ranges (192.0.2.0/24,
// 198.18.0.0/15, …) are not: they route nowhere inward, and some networks
// run real services there (this project's CI reaches its npm registry at a
// 203.0.113.x address).
var specialRanges = []struct {
	pfx netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a 'this network' address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (some clouds' metadata lives there)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a NAT64 address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local address"},
}

// dial checks target and connects to one of the addresses it checked,
// never resolving the name again.
func (p *Proxy) dial(ctx context.Context, target string) (net.Conn, error) {
	aps, err := p.check(ctx, target)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, ap := range aps {
		c, err := d.DialContext(ctx, "tcp", ap.String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (p *Proxy) refused(sandbox string, err error) {
	var re *RefusedError
	if !errors.As(err, &re) {
		return
	}
	p.log.Warn("egress refused", "sandbox", sandbox, "target", re.Target, "reason", re.Reason)
	r := Refusal{Sandbox: sandbox, Target: re.Target, Reason: re.Reason}
	if p.onRefuse != nil {
		p.onRefuse(r)
	}
	p.subMu.Lock()
	subs := make([]*subscription, 0, len(p.subs[sandbox]))
	for sub := range p.subs[sandbox] {
		subs = append(subs, sub)
	}
	p.subMu.Unlock()
	for _, sub := range subs {
		sub.mu.Lock()
		if !sub.cancelled {
			sub.fn(r)
		}
		sub.mu.Unlock()
	}
}

// Handler is the proxy for one sandbox's connections.
func (p *Proxy) Handler(sandbox string) http.Handler {
	h := &handler{p: p, sandbox: sandbox}
	h.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           func(ctx context.Context, _, addr string) (net.Conn, error) { return p.dial(ctx, addr) },
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return h
}

type handler struct {
	p         *Proxy
	sandbox   string
	transport *http.Transport
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		h.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		// Origin-form: someone talking to the proxy as if it were the site.
		http.Error(w, "egress proxy: want an absolute http:// URL or CONNECT", http.StatusBadRequest)
		return
	}
	target := r.URL.Host
	if r.URL.Port() == "" {
		target = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	// The URL decides where the request goes; a different Host header
	// would only confuse the origin, so it is made to agree.
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Host = r.URL.Host
	for _, hop := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(hop)
	}
	if _, err := h.p.check(r.Context(), target); err != nil {
		h.deny(w, err)
		return
	}
	resp, err := h.transport.RoundTrip(out)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			h.deny(w, err)
			return
		}
		http.Error(w, "egress proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = slices.Clone(vs)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (h *handler) connect(w http.ResponseWriter, r *http.Request) {
	upstream, err := h.p.dial(r.Context(), r.Host)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			h.deny(w, err)
			return
		}
		http.Error(w, "egress proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer upstream.Close()
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	client, buf, err := rc.Hijack()
	if err != nil {
		return
	}
	defer client.Close()
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		if _, err := upstream.Write(b); err != nil {
			return
		}
	}
	pipe(client, upstream)
}

func (h *handler) deny(w http.ResponseWriter, err error) {
	h.p.refused(h.sandbox, err)
	http.Error(w, "egress proxy: "+err.Error(), http.StatusForbidden)
}

// halfCloseGrace is how long a tunnel stays up after one side is done.
const halfCloseGrace = 30 * time.Second

// pipe copies both ways until either side is done.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Let the other direction finish on its own close, but not wait
		// forever for a peer that never closes (say, the sandbox is gone).
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
		deadline := time.Now().Add(halfCloseGrace)
		_ = a.SetDeadline(deadline)
		_ = b.SetDeadline(deadline)
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
