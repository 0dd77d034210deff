package daytonatest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

// echoServer answers every request with its request line and headers,
// and turns "Upgrade: x-echo" requests into a byte echo, so tests see
// what the preview proxy forwarded.
const echoServer = `import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        lines = []
        while True:
            l = self.rfile.readline()
            if not l or l in (b"\r\n", b"\n"):
                break
            lines.append(l.decode().rstrip("\r\n"))
        hdr = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdr[k.strip().lower()] = v.strip()
        if hdr.get("upgrade", "").lower() == "x-echo":
            self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\n\r\n")
            self.wfile.flush()
            while True:
                b = self.request.recv(4096)
                if not b:
                    return
                self.request.sendall(b)
        body = ("\n".join([lines[0]] + [k + "=" + hdr[k] for k in sorted(hdr)]) + "\n").encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`

func startEcho(t *testing.T, s *daytonatest.Server, sb sandboxDTO, port int) {
	t.Helper()
	wantStatus(t, "upload", upload(t, s, sb, [][2]string{{"files[0].path", "echo.py"}, {"files[0].file", echoServer}}), http.StatusOK)
	wantStatus(t, "session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "echo"}), http.StatusCreated)
	r := tb(t, s, sb, "POST", "/process/session/echo/exec", map[string]any{"command": fmt.Sprintf("python3 echo.py %d", port), "runAsync": true})
	wantStatus(t, "start echo", r, http.StatusAccepted)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(string(tb(t, s, sb, "GET", fmt.Sprintf("/port/%d/in-use", port), nil).body), "true") {
		if time.Now().After(deadline) {
			t.Fatal("echo server never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// preview calls a preview URL with only the given headers' credentials.
func preview(t *testing.T, s *daytonatest.Server, url string, header http.Header) response {
	t.Helper()
	h := http.Header{"Authorization": {""}, "X-Daytona-Sdk-Version": {""}}
	for k, v := range header {
		h[http.CanonicalHeaderKey(k)] = v
	}
	return call(t, s, "GET", url, nil, h)
}

const (
	browserUA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"
	toolUA    = "curl/8.5.0"
)

func TestPreviewURLs(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	r := api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/3000/preview-url", nil)
	wantStatus(t, "preview-url", r, http.StatusOK)
	m := r.obj(t)
	u, err := url.Parse(fmt.Sprint(m["url"]))
	if err != nil || u.Hostname() != "3000-"+sb.ID+"."+daytonatest.ProxyDomain || m["sandboxId"] != sb.ID || m["token"] != s.PreviewToken(sb.ID) {
		t.Errorf("preview-url = %s", r.body)
	}
	wantStatus(t, "port 0", api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/0/preview-url", nil), http.StatusBadRequest)
	wantStatus(t, "port 65536", api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/65536/preview-url", nil), http.StatusBadRequest)

	for _, tt := range []struct {
		query  string
		status int
	}{{"", 200}, {"?expiresInSeconds=1", 200}, {"?expiresInSeconds=86400", 200}, {"?expiresInSeconds=0", 400}, {"?expiresInSeconds=86401", 400}, {"?expiresInSeconds=x", 400}} {
		r := api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/3000/signed-preview-url"+tt.query, nil)
		wantStatus(t, "signed-preview-url"+tt.query, r, tt.status)
		if tt.status != 200 {
			continue
		}
		m := r.obj(t)
		token, _ := m["token"].(string)
		if len(token) != 16 || strings.Trim(token, "abcdefghijklmnopqrstuvwxyz0123456789") != "" || m["port"] != 3000.0 ||
			!strings.HasPrefix(fmt.Sprint(m["url"]), "http://3000-"+token+"."+daytonatest.ProxyDomain+":") {
			t.Errorf("signed-preview-url = %s", r.body)
		}
	}
}

func TestPreviewProxy(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	startEcho(t, s, sb, 3001)
	token := s.PreviewToken(sb.ID)
	base := fmt.Sprint(api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/3001/preview-url", nil).obj(t)["url"])
	signed := api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/3001/signed-preview-url?expiresInSeconds=3600", nil).obj(t)
	signedURL, signedToken := fmt.Sprint(signed["url"]), fmt.Sprint(signed["token"])
	otherPort := fmt.Sprint(api(t, s, "GET", "/sandbox/"+sb.ID+"/ports/3002/signed-preview-url", nil).obj(t)["token"])
	host := strings.TrimPrefix(base, "http://")

	tests := []struct {
		name     string
		url      string
		header   http.Header
		status   int
		contains []string
		absent   []string
	}{
		{"no credentials, a tool", base + "/", http.Header{"User-Agent": {toolUA}}, http.StatusUnauthorized, nil, nil},
		{"api key", base + "/", http.Header{"User-Agent": {toolUA}, "Authorization": {"Bearer " + daytonatest.DefaultAPIKey}}, 200, []string{"GET / HTTP/1.1"}, nil},
		{"token header, host rewritten", base + "/a?b=1", http.Header{"User-Agent": {toolUA}, "X-Daytona-Preview-Token": {token}}, 200,
			[]string{"GET /a?b=1 HTTP/1.1", "\nhost=localhost:3001\n", "\nx-forwarded-host=" + host + "\n"}, []string{token}},
		{"token query, stripped", base + "/q?DAYTONA_SANDBOX_AUTH_KEY=" + token + "&keep=1", http.Header{"User-Agent": {toolUA}}, 200,
			[]string{"GET /q?keep=1 HTTP/1.1"}, []string{token}},
		{"wrong token", base + "/", http.Header{"User-Agent": {toolUA}, "X-Daytona-Preview-Token": {"nope"}}, http.StatusUnauthorized, nil, nil},
		{"browser gets the warning", base + "/", http.Header{"User-Agent": {browserUA}, "X-Daytona-Preview-Token": {token}}, 200,
			[]string{"<form", "accept-daytona-preview-warning"}, []string{"HTTP/1.1"}},
		{"browser skips the warning", base + "/", http.Header{"User-Agent": {browserUA}, "X-Daytona-Preview-Token": {token}, "X-Daytona-Skip-Preview-Warning": {"true"}}, 200,
			[]string{"GET / HTTP/1.1"}, nil},
		{"browser with the accepted cookie", base + "/", http.Header{"User-Agent": {browserUA}, "X-Daytona-Preview-Token": {token}, "Cookie": {"daytona-preview-page-accepted=true"}}, 200,
			[]string{"GET / HTTP/1.1"}, nil},
		{"signed url", signedURL + "/", http.Header{"User-Agent": {toolUA}}, 200, []string{"GET / HTTP/1.1"}, nil},
		{"signed token of another port", strings.Replace(signedURL, signedToken, otherPort, 1) + "/", http.Header{"User-Agent": {toolUA}}, http.StatusBadRequest, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := preview(t, s, tt.url, tt.header)
			wantStatus(t, "GET "+tt.url, r, tt.status)
			for _, c := range tt.contains {
				if !strings.Contains(string(r.body), c) {
					t.Errorf("body lacks %q:\n%s", c, r.body)
				}
			}
			for _, c := range tt.absent {
				if strings.Contains(string(r.body), c) {
					t.Errorf("body holds %q:\n%s", c, r.body)
				}
			}
		})
	}

	t.Run("browser without credentials is sent to log in", func(t *testing.T) {
		r := preview(t, s, base+"/", http.Header{"User-Agent": {browserUA}})
		wantStatus(t, "GET", r, http.StatusTemporaryRedirect)
		if loc := r.header.Get("Location"); !strings.Contains(loc, "/oauth/login") {
			t.Errorf("Location = %q", loc)
		}
	})
	t.Run("signed url sets the auth cookie", func(t *testing.T) {
		r := preview(t, s, signedURL+"/", http.Header{"User-Agent": {toolUA}})
		c := r.header.Get("Set-Cookie")
		if !strings.HasPrefix(c, "daytona-sandbox-auth-"+signedToken+"=") || !strings.Contains(c, "Max-Age=3600") || !strings.Contains(c, "HttpOnly") {
			t.Errorf("Set-Cookie = %q", c)
		}
		// The cookie authenticates on its own: a forged one does not.
		name, value, _ := strings.Cut(strings.Split(c, ";")[0], "=")
		wantStatus(t, "with the cookie", preview(t, s, signedURL+"/", http.Header{"User-Agent": {toolUA}, "Cookie": {name + "=" + value}}), 200)
		if strings.Contains(c, token) {
			t.Error("the cookie carries the standard preview token")
		}
	})
	t.Run("expired signed url", func(t *testing.T) {
		wantStatus(t, "expire", api(t, s, "POST", "/sandbox/"+sb.ID+"/ports/3001/signed-preview-url/"+signedToken+"/expire", nil), 200)
		if r := preview(t, s, signedURL+"/", http.Header{"User-Agent": {toolUA}}); r.status == 200 {
			t.Errorf("expired signed url answered 200: %s", r.body)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		u := strings.Replace(base, "3001-", "3999-", 1) + "/"
		r := preview(t, s, u, http.Header{"User-Agent": {toolUA}, "X-Daytona-Preview-Token": {token}})
		if r.status != http.StatusBadGateway || len(r.body) != 0 {
			t.Errorf("closed port = %d %q, want 502 with an empty body", r.status, r.body)
		}
	})
	t.Run("upgrade is forwarded", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Daytona-Preview-Token", token)
		req.Header.Set("User-Agent", browserUA) // no warning page for upgrades
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "x-echo")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("upgrade = %d %s", resp.StatusCode, b)
		}
		rw, ok := resp.Body.(io.ReadWriteCloser)
		if !ok {
			t.Fatalf("upgraded body %T is not writable", resp.Body)
		}
		if _, err := rw.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
			t.Errorf("echo over the upgraded conn = %q, %v", buf, err)
		}
	})
	t.Run("public sandbox needs no credentials", func(t *testing.T) {
		pub := createStarted(t, s, map[string]any{"public": true})
		startEcho(t, s, pub, 3001)
		u := fmt.Sprint(api(t, s, "GET", "/sandbox/"+pub.ID+"/ports/3001/preview-url", nil).obj(t)["url"])
		wantStatus(t, "public", preview(t, s, u+"/", http.Header{"User-Agent": {toolUA}}), 200)
	})
	t.Run("stopped sandbox", func(t *testing.T) {
		wantStatus(t, "stop", api(t, s, "POST", "/sandbox/"+sb.ID+"/stop", nil), 200)
		waitState(t, s, sb.ID, "stopped")
		r := preview(t, s, base+"/", http.Header{"User-Agent": {toolUA}, "Authorization": {"Bearer " + daytonatest.DefaultAPIKey}})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"statusCode":400`) {
			t.Errorf("preview of a stopped sandbox = %d %s", r.status, r.body)
		}
	})
}
