package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/store"
)

// oidcCookie keeps one sign-in attempt's state, nonce and PKCE verifier in
// the browser between the redirect to the provider and the callback.
const (
	oidcCookie     = "qv_oidc"
	oidcCookiePath = "/api/auth/oidc/"
	oidcFlowTTL    = 10 * time.Minute
)

var errNoOIDC = &apiError{Status: http.StatusNotFound, Code: "sso_not_configured", Message: "single sign-on is not configured on this server"}

// oidcLogin sends the browser to the identity provider.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return errNoOIDC
	}
	target, flow, err := s.OIDC.Start(r.Context())
	if err != nil {
		return err
	}
	data, err := json.Marshal(flow)
	if err != nil {
		return err
	}
	// SameSite=Lax: the callback is a top-level GET from the provider.
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(data), Path: oidcCookiePath,
		MaxAge: int(oidcFlowTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Config.PublicURL.Scheme == "https",
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// oidcCallback finishes the sign-in: the account is the one with the
// provider-verified email, created if registration allows.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return errNoOIDC
	}
	// The attempt is single-use whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcCookiePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	var flow auth.OIDCFlow
	c, err := r.Cookie(oidcCookie)
	if err == nil {
		if data, derr := base64.RawURLEncoding.DecodeString(c.Value); derr == nil {
			err = json.Unmarshal(data, &flow)
		} else {
			err = derr
		}
	}
	if err != nil {
		flow = auth.OIDCFlow{} // Finish refuses an empty flow as a state mismatch.
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		if aerr := s.audit(r, auth.AuditSignInFailed, store.User{}, "", "oidc: provider said "+e); aerr != nil {
			return aerr
		}
		return &apiError{Status: http.StatusUnauthorized, Code: "sso_failed", Message: "the identity provider refused the sign-in: " + e}
	}
	email, err := s.OIDC.Finish(r.Context(), flow, q.Get("state"), q.Get("code"))
	if err != nil {
		if aerr := s.audit(r, auth.AuditSignInFailed, store.User{}, "", "oidc"); aerr != nil {
			return aerr
		}
		return err
	}
	token, u, expires, err := s.Auth.SignInVerifiedEmail(r.Context(), email, s.Config.Security.OpenSignup)
	if err != nil {
		if aerr := s.audit(r, auth.AuditSignInFailed, store.User{}, email, "oidc"); aerr != nil {
			return aerr
		}
		return err
	}
	if err := s.audit(r, auth.AuditSignIn, u, u.ID, "oidc"); err != nil {
		return err
	}
	s.setSessionCookie(w, token, expires)
	http.Redirect(w, r, "/", http.StatusFound)
	return nil
}
