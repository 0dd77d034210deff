package preview

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Where a preview token may travel. The query parameter is only for the
// first request of a browser frame, which swaps it for the cookie.
const (
	TokenParam  = "qv_preview_token"
	TokenHeader = "X-QV-Preview-Token"
	TokenCookie = "qv_preview"
)

// Policy decides, at request time, whether a preview may be shown: a token
// proves who asked, the policy whether that is still allowed (the user is
// not disabled, the share not revoked).
type Policy interface {
	// PublicPreview reports whether anyone may see the sandbox's ports.
	PublicPreview(ctx context.Context, sandboxID string) (bool, error)
	// SubjectAllowed reports whether a token's subject may see the sandbox.
	SubjectAllowed(ctx context.Context, subject, sandboxID string) (bool, error)
}

// Access is how the proxy admits requests.
type Access struct {
	Signer *Signer
	Policy Policy
	// CrossSiteCookie marks the preview cookie SameSite=None; Secure;
	// Partitioned, for
	// app and preview origins that are different sites (https, or the
	// *.localhost default, which browsers treat as secure).
	CrossSiteCookie bool
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

func (a Access) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// errDenied means the request carried no acceptable credential.
var errDenied = errors.New("preview: access denied")

// admit checks r's credential and reports whether to proxy it. It answers
// the request itself (redirect or refusal) when it returns false.
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request, sandboxID string, port int) bool {
	ctx := r.Context()
	// First request of a signed URL: check it, keep it in a cookie scoped
	// to this preview host and send the browser to the clean URL, so the
	// token does not linger in the address bar, history or Referer.
	if token := r.URL.Query().Get(TokenParam); token != "" {
		c, err := p.check(ctx, token, sandboxID, port)
		if err != nil {
			p.deny(w, r, sandboxID, err)
			return false
		}
		cookie := &http.Cookie{
			Name: TokenCookie, Value: token, Path: "/", Expires: c.ExpiresAt,
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		}
		if p.access.CrossSiteCookie {
			// Partitioned (CHIPS): browsers that block third-party cookies
			// still keep this one, for frames under the app's site only.
			cookie.SameSite, cookie.Secure, cookie.Partitioned = http.SameSiteNoneMode, true, true
		}
		http.SetCookie(w, cookie)
		q := r.URL.Query()
		q.Del(TokenParam)
		// One leading slash only: "//host/x" would send the browser off-site.
		path := "/" + strings.TrimLeft(r.URL.Path, "/")
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, (&url.URL{Path: path, RawQuery: q.Encode()}).String(), http.StatusSeeOther)
		return false
	}
	token := r.Header.Get(TokenHeader)
	if token == "" {
		if c, err := r.Cookie(TokenCookie); err == nil {
			token = c.Value
		}
	}
	if token != "" {
		_, err := p.check(ctx, token, sandboxID, port)
		if err == nil {
			return true
		}
		if !errors.Is(err, errDenied) {
			p.deny(w, r, sandboxID, err)
			return false
		}
		// A stale token does not hide a preview that has become public.
	}
	public, err := p.access.Policy.PublicPreview(ctx, sandboxID)
	if err != nil {
		p.deny(w, r, sandboxID, err)
		return false
	}
	if !public {
		p.deny(w, r, sandboxID, errDenied)
		return false
	}
	return true
}

// check verifies token for this host and asks the policy about its subject.
func (p *Proxy) check(ctx context.Context, token, sandboxID string, port int) (Claims, error) {
	c, err := p.access.Signer.Verify(token, sandboxID, port, p.access.now())
	if err != nil {
		return Claims{}, errDenied
	}
	ok, err := p.access.Policy.SubjectAllowed(ctx, c.Subject, sandboxID)
	if err != nil {
		return Claims{}, err
	}
	if !ok {
		return Claims{}, errDenied
	}
	return c, nil
}

func (p *Proxy) deny(w http.ResponseWriter, r *http.Request, sandboxID string, err error) {
	if !errors.Is(err, errDenied) {
		p.logger.Error("preview access check", "sandbox_id", sandboxID, "err", err)
		page(w, http.StatusBadGateway, "Preview unavailable", "The server could not check access to this preview. Try again in a moment.")
		return
	}
	p.logger.Debug("preview refused", "sandbox_id", sandboxID, "host", r.Host)
	page(w, http.StatusUnauthorized, "This preview is private",
		"Open it from the project page in QuickVibe, or ask its owner for a share link. Preview links expire after a while; reopen the project to get a fresh one.")
}
