package egress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeResolver answers from a fixed table and fails for everything else,
// so no test ever asks a real DNS server.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s (test resolver)", host)
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

type refusals struct {
	mu   sync.Mutex
	list []Refusal
}

func (r *refusals) add(x Refusal) { r.mu.Lock(); r.list = append(r.list, x); r.mu.Unlock() }
func (r *refusals) last() Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		return Refusal{}
	}
	return r.list[len(r.list)-1]
}

// serveProxy runs the proxy for sandbox "sb1" behind a local TCP listener.
func serveProxy(t *testing.T, cfg Config) (proxyURL *url.URL, refused *refusals) {
	t.Helper()
	refused = &refusals{}
	cfg.OnRefuse = refused.add
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler("sb1"))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u, refused
}

func proxiedClient(proxyURL *url.URL) *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
}

func TestAllowlistMatching(t *testing.T) {
	p, err := New(Config{Allow: []string{"github.com", "*.example.org", "Registry.NPMjs.org."}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"github.com":         true,
		"GitHub.com.":        true,
		"api.github.com":     false, // exact entries do not cover subdomains
		"evil-github.com":    false,
		"github.com.evil.io": false,
		"a.example.org":      true,
		"a.b.example.org":    true,
		"example.org":        false, // *.x matches subdomains only, not the apex
		"badexample.org":     false,
		"registry.npmjs.org": true,
	} {
		if got := p.Allowed(host); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"*", "*.", "http://x.com", "a..b", "x.com:443", "*.*.x"} {
		if _, err := New(Config{Allow: []string{bad}}); err == nil {
			t.Errorf("New accepted allowlist entry %q", bad)
		}
	}
}

func TestAddressChecks(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{
		"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.100.100.200", "100.64.0.1", "0.0.0.0", "::", "fd00::1", "fe80::1",
		"::ffff:127.0.0.1", "::ffff:8.8.8.8", "224.0.0.1", "255.255.255.255",
	} {
		if p.forbidden(netip.MustParseAddr(a)) == "" {
			t.Errorf("%s is allowed, want refused", a)
		}
	}
	for _, a := range []string{"140.82.112.3", "104.16.0.1", "2606:4700::1"} {
		if why := p.forbidden(netip.MustParseAddr(a)); why != "" {
			t.Errorf("%s refused (%s), want allowed", a, why)
		}
	}
}

func TestRefusals(t *testing.T) {
	// A real server on loopback: the proxy must refuse to reach it however
	// it is named.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("backend reached: %s %s", r.Method, r.URL)
	}))
	defer backend.Close()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))
	var port int
	fmt.Sscan(portStr, &port)

	proxyURL, refused := serveProxy(t, Config{
		Allow: []string{"registry.npmjs.org", "rebind.example.com", "meta.example.com", "*.github.com", "loop.example.com"},
		Ports: []int{80, 443, port},
		Resolver: fakeResolver{
			"registry.npmjs.org": addrs("104.16.0.1"),
			"rebind.example.com": addrs("10.0.0.7"),
			"meta.example.com":   addrs("104.16.0.2", "169.254.169.254"),
			"loop.example.com":   addrs("127.0.0.1"),
		},
	})
	c := proxiedClient(proxyURL)
	for _, tc := range []struct{ name, url, reason string }{
		{"loopback literal", backend.URL + "/", "IP addresses are not allowed"},
		{"allowed name resolving to loopback", "http://loop.example.com:" + portStr + "/", "loopback"},
		{"dns rebinding to private", "http://rebind.example.com/", "private address"},
		{"one metadata record among public ones", "http://meta.example.com/", "link-local"},
		{"metadata literal", "http://169.254.169.254/latest/meta-data/", "IP addresses are not allowed"},
		{"not allowlisted", "http://evil.example.net/", "not on the allowlist"},
		{"lookalike", "http://evil-github.com/", "not on the allowlist"},
		{"wildcard apex", "http://github.com/", "not on the allowlist"},
		{"port not allowed", "http://registry.npmjs.org:8443/", "port 8443 is not allowed"},
		{"https to non-allowed", "https://evil.example.net/", "not on the allowlist"},
		{"https on odd port", "https://registry.npmjs.org:22/", "port 22 is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(tc.url)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d (%s), want 403", resp.StatusCode, body)
				}
			} else if !strings.Contains(err.Error(), "Forbidden") {
				// CONNECT refusals surface as a client error.
				t.Fatalf("err %v, want a 403 from the proxy", err)
			}
			if got := refused.last(); !strings.Contains(got.Reason, tc.reason) || got.Sandbox != "sb1" {
				t.Errorf("refusal %+v, want reason containing %q for sb1", got, tc.reason)
			}
		})
	}
}

func TestHostHeaderCannotRedirect(t *testing.T) {
	// The request line names an allowlisted host; a Host header naming
	// another must not change where the proxy goes (it dials the checked
	// address and rewrites Host).
	var gotHost string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))
	var port int
	fmt.Sscan(portStr, &port)
	proxyURL, _ := serveProxy(t, Config{
		Allow:       []string{"allowed.test"},
		Ports:       []int{port},
		Resolver:    fakeResolver{"allowed.test": addrs("127.0.0.1")},
		PermitAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	conn, err := net.Dial("tcp", proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET http://allowed.test:%d/ HTTP/1.1\r\nHost: evil.example.net\r\nConnection: close\r\n\r\n", port)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if gotHost != "allowed.test:"+portStr {
		t.Errorf("backend saw Host %q, want allowed.test:%s", gotHost, portStr)
	}
}

func TestHappyPathHTTPAndConnect(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	defer backend.Close()
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.URL.Path)
	}))
	defer tlsBackend.Close()
	port := func(u string) (string, int) {
		pu, _ := url.Parse(u)
		var n int
		fmt.Sscan(pu.Port(), &n)
		return pu.Port(), n
	}
	ps, pn := port(backend.URL)
	ts, tn := port(tlsBackend.URL)
	proxyURL, _ := serveProxy(t, Config{
		Allow:       []string{"pkg.test"},
		Ports:       []int{pn, tn},
		Resolver:    fakeResolver{"pkg.test": addrs("127.0.0.1")},
		PermitAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	c := proxiedClient(proxyURL)
	resp, err := c.Get("http://pkg.test:" + ps + "/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello /a" {
		t.Errorf("http: %q", b)
	}
	tr := tlsBackend.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxyURL)
	tr.TLSClientConfig.ServerName = "example.com" // the test cert's name
	resp, err = (&http.Client{Transport: tr}).Get("https://pkg.test:" + ts + "/b")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "secure /b" {
		t.Errorf("connect: %q", b)
	}
}

func TestServeSandboxOverPassedSockets(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "via fd")
	}))
	defer backend.Close()
	pu, _ := url.Parse(backend.URL)
	var pn int
	fmt.Sscan(pu.Port(), &pn)
	p, err := New(Config{
		Allow: []string{"pkg.test"}, Ports: []int{pn}, MaxConns: 1,
		Resolver:    fakeResolver{"pkg.test": addrs("127.0.0.1")},
		PermitAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	if err != nil {
		t.Fatal(err)
	}
	host, sb := pair(t)
	done := make(chan error, 1)
	go func() { done <- p.ServeSandbox("sb1", host) }()

	send := func() net.Conn {
		t.Helper()
		mine, theirs := rawPair(t)
		if _, _, err := sb.WriteMsgUnix([]byte{0}, syscall.UnixRights(theirs), nil); err != nil {
			t.Fatal(err)
		}
		syscall.Close(theirs)
		return mine
	}
	c1 := send()
	fmt.Fprintf(c1, "GET http://pkg.test:%d/ HTTP/1.1\r\nHost: pkg.test\r\n\r\n", pn)
	resp, err := http.ReadResponse(bufio.NewReader(c1), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "via fd" {
		t.Errorf("got %q", b)
	}
	// Over the limit (1 while c1 is open): closed at once.
	c2 := send()
	if n, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("second concurrent connection: read %d, %v; want EOF", n, err)
	}
	c1.Close()
	c2.Close()
	// The sandbox going away ends ServeSandbox.
	sb.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeSandbox: %v", err)
	}
}

func pair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fdConn(t, fds[0]), fdConn(t, fds[1])
}

func rawPair(t *testing.T) (net.Conn, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fdConn(t, fds[0]), fds[1]
}

func fdConn(t *testing.T, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "sock")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

func TestSubscribe(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	cancel := p.Subscribe("sb1", func(r Refusal) { got = append(got, r.Sandbox+" "+r.Target) })
	p.Subscribe("sb2", func(r Refusal) { t.Errorf("sb2 subscriber got %+v", r) })
	srv := httptest.NewServer(p.Handler("sb1"))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c := proxiedClient(u)
	for _, target := range []string{"http://a.example/", "http://b.example/"} {
		resp, err := c.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	resp, err := c.Get("http://c.example/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Join(got, ",") != "sb1 a.example:80,sb1 b.example:80" {
		t.Errorf("refusals seen: %q", got)
	}
}
