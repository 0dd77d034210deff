package preview

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// fakePolicy answers from function fields.
type fakePolicy struct {
	public  func(sandboxID string) bool
	allowed func(subject string) bool
}

func (f fakePolicy) PublicPreview(_ context.Context, id string) (bool, error) {
	return f.public(id), nil
}
func (f fakePolicy) SubjectAllowed(_ context.Context, subject, _ string) (bool, error) {
	return f.allowed(subject), nil
}

// upstream is a sandbox port answering "hello from the app".
type upstream struct{ addr string }

func (u upstream) Get(context.Context, string) (sandbox.Info, error) {
	return sandbox.Info{State: sandbox.StateRunning}, nil
}

func (u upstream) DialPort(ctx context.Context, _ string, _ int) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", u.addr)
}

func TestSignedURLSetsCookieAndRedirects(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(TokenHeader) != "" || r.URL.Query().Get(TokenParam) != "" {
			t.Error("the preview token reached the app")
		}
		io.WriteString(w, "hello from the app")
	}))
	defer app.Close()
	signer := NewSigner([]byte("a secret of sufficient length for tests"))
	for _, crossSite := range []bool{false, true} {
		p := New(upstream{addr: app.Listener.Addr().String()}, Access{
			Signer:          signer,
			Policy:          fakePolicy{public: func(string) bool { return false }, allowed: func(s string) bool { return s == "u:1" }},
			CrossSiteCookie: crossSite,
		}, slog.New(slog.DiscardHandler))
		tok, err := signer.Sign(Claims{Subject: "u:1", SandboxID: "sbx", Port: 3000, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		p.Serve(rec, httptest.NewRequest(http.MethodGet, "http://3000-sbx.preview.localhost//evil.example/x?a=1&"+TokenParam+"="+tok, nil), "sbx", 3000)
		resp := rec.Result()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/evil.example/x?a=1" {
			t.Errorf("signed URL = %d to %q; want 303 to the clean same-host path", resp.StatusCode, loc)
		}
		cs := resp.Cookies()
		if len(cs) != 1 || cs[0].Name != TokenCookie || !cs[0].HttpOnly || cs[0].Domain != "" || cs[0].Secure != crossSite || cs[0].Partitioned != crossSite {
			t.Fatalf("cross-site %v: cookies = %+v", crossSite, cs)
		}
		want := http.SameSiteLaxMode
		if crossSite {
			want = http.SameSiteNoneMode
		}
		if cs[0].SameSite != want {
			t.Errorf("cross-site %v: SameSite = %v, want %v", crossSite, cs[0].SameSite, want)
		}
		req := httptest.NewRequest(http.MethodGet, "http://3000-sbx.preview.localhost/", nil)
		req.AddCookie(cs[0])
		rec = httptest.NewRecorder()
		p.Serve(rec, req, "sbx", 3000)
		if rec.Code != http.StatusOK || rec.Body.String() != "hello from the app" {
			t.Errorf("with the cookie = %d %q", rec.Code, rec.Body)
		}
	}
}
