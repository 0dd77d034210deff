package preview

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// fakeSandboxes is one running sandbox whose ports all lead to addr.
type fakeSandboxes struct{ addr string }

func (f fakeSandboxes) Get(context.Context, string) (sandbox.Info, error) {
	return sandbox.Info{ID: "sb", State: sandbox.StateRunning}, nil
}

func (f fakeSandboxes) DialPort(ctx context.Context, _ string, _ int) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.addr)
}

type publicPolicy struct{}

func (publicPolicy) PublicPreview(context.Context, string) (bool, error)          { return true, nil }
func (publicPolicy) SubjectAllowed(context.Context, string, string) (bool, error) { return false, nil }

// A dev server that compresses when asked (as Vite does) still gets the
// error reporter into its pages; assets keep their compression.
func TestPagesComeUncompressedForTheReporter(t *testing.T) {
	devServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		typ, body := "text/javascript", "console.log(1)"
		if r.URL.Path == "/" {
			typ, body = "text/html", "<html><head><title>app</title></head><body>hi</body></html>"
		}
		w.Header().Set("Content-Type", typ)
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, body)
		zw.Close()
	}))
	defer devServer.Close()
	p := New(fakeSandboxes{addr: devServer.Listener.Addr().String()}, Access{Policy: publicPolicy{}}, slog.New(slog.DiscardHandler))

	get := func(path, accept string) *http.Response {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		rec := httptest.NewRecorder()
		p.Serve(rec, req, "sb", 3000)
		return rec.Result()
	}
	page := get("/", "text/html,application/xhtml+xml,*/*;q=0.8")
	body, _ := io.ReadAll(page.Body)
	if page.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), `data-quickvibe="error-reporter"`) || !strings.Contains(string(body), "<title>app</title>") {
		t.Errorf("page: encoding %q, body %q; want it uncompressed with the reporter", page.Header.Get("Content-Encoding"), body)
	}
	asset := get("/main.js", "*/*")
	if asset.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("asset encoding = %q; want the dev server's gzip kept", asset.Header.Get("Content-Encoding"))
	}
}
