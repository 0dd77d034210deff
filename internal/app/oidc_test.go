package app_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testIssuer is a minimal OpenID Connect provider: discovery document, JWKS,
// an authorization endpoint that consents at once, and a token endpoint that
// checks PKCE and returns an RS256-signed ID token.
type testIssuer struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	client string
	secret string

	mu            sync.Mutex
	email         string
	emailVerified bool
	codes         map[string]issuedCode
}

type issuedCode struct {
	nonce, challenge, redirect string
}

func newTestIssuer(t *testing.T, clientID, clientSecret string) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{t: t, key: key, client: clientID, secret: clientSecret, codes: map[string]issuedCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("GET /authorize", is.authorize)
	mux.HandleFunc("POST /token", is.token)
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// signInAs sets who the next sign-in is.
func (is *testIssuer) signInAs(email string, verified bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.email, is.emailVerified = email, verified
}

func (is *testIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	u := is.srv.URL
	writeTestJSON(w, map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (is *testIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	pub := is.key.PublicKey
	writeTestJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func (is *testIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != is.client || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	code := rand.Text()
	is.mu.Lock()
	is.codes[code] = issuedCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	is.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (is *testIssuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	is.mu.Lock()
	c, found := is.codes[r.PostForm.Get("code")]
	delete(is.codes, r.PostForm.Get("code")) // codes are single-use
	email, verified := is.email, is.emailVerified
	is.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case id != is.client || secret != is.secret:
		w.WriteHeader(http.StatusUnauthorized)
		writeTestJSON(w, map[string]string{"error": "invalid_client"})
		return
	case !found || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != c.redirect,
		base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		w.WriteHeader(http.StatusBadRequest)
		writeTestJSON(w, map[string]string{"error": "invalid_grant"})
		return
	}
	now := time.Now()
	idToken := is.sign(map[string]any{
		"iss": is.srv.URL, "sub": "user-" + email, "aud": is.client, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": c.nonce, "email": email, "email_verified": verified,
	})
	writeTestJSON(w, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// sign makes an RS256 JWT.
func (is *testIssuer) sign(claims map[string]any) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			is.t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, sum[:])
	if err != nil {
		is.t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func TestOIDCSignIn(t *testing.T) {
	is := newTestIssuer(t, "quickvibe", "client-secret")
	s := startServer(t, t.TempDir(), map[string]string{
		"QV_OIDC_ISSUER": is.srv.URL, "QV_OIDC_CLIENT_ID": "quickvibe", "QV_OIDC_CLIENT_SECRET": "client-secret",
	})
	admin := signUp(t, s)
	if _, err := s.app.Auth.AddUser(t.Context(), "alice@example.com", "password123", false); err != nil {
		t.Fatal(err)
	}
	// The public URL, so the callback's cookies match the sign-in's.
	base := "http://localhost:" + strconv.Itoa(s.port)

	// ssoAs runs the whole browser flow and returns the final answer and
	// the browser's client.
	ssoAs := func(email string, verified bool) (int, *http.Client) {
		t.Helper()
		is.signInAs(email, verified)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp, err := browser.Get(base + "/api/auth/oidc/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, browser
	}
	me := func(browser *http.Client) string {
		t.Helper()
		resp, err := browser.Get(base + "/api/auth/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ User struct{ Email string } }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out.User.Email
	}

	// An existing account is linked by its verified email.
	code, browser := ssoAs("Alice@Example.com", true)
	if code != http.StatusOK || me(browser) != "alice@example.com" {
		t.Fatalf("single sign-on as alice = %d, signed in as %q", code, me(browser))
	}
	// An unverified email is refused, as is a new account while
	// registration is closed.
	if code, browser := ssoAs("alice@example.com", false); code != http.StatusUnauthorized || me(browser) != "" {
		t.Errorf("unverified email = %d (%q); want 401 and no session", code, me(browser))
	}
	if code, browser := ssoAs("stranger@example.com", true); code != http.StatusForbidden || me(browser) != "" {
		t.Errorf("new account with registration closed = %d (%q); want 403", code, me(browser))
	}
	// A callback whose state does not match the browser's attempt (a
	// forged or replayed callback) is refused.
	jar, _ := cookiejar.New(nil)
	stranger := &http.Client{Jar: jar}
	resp, err := stranger.Get(base + "/api/auth/oidc/callback?state=forged&code=whatever")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged callback = %d, want 401", resp.StatusCode)
	}

	events, err := admin.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var signIns, failures int
	for _, e := range events {
		switch {
		case e.Event == "sign_in" && e.Detail == "oidc":
			signIns++
		case e.Event == "sign_in_failed" && strings.HasPrefix(e.Detail, "oidc"):
			failures++
		}
	}
	if signIns != 1 || failures != 3 {
		t.Errorf("audit has %d oidc sign-ins and %d failures; want 1 and 3: %+v", signIns, failures, events)
	}
}

func TestOIDCSignUpWhenOpen(t *testing.T) {
	is := newTestIssuer(t, "quickvibe", "client-secret")
	s := startServer(t, t.TempDir(), map[string]string{
		"QV_OIDC_ISSUER": is.srv.URL, "QV_OIDC_CLIENT_ID": "quickvibe", "QV_OIDC_CLIENT_SECRET": "client-secret", "QV_OPEN_SIGNUP": "true",
	})
	signUp(t, s)
	is.signInAs("newcomer@example.com", true)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	base := "http://localhost:" + strconv.Itoa(s.port)
	resp, err := browser.Get(base + "/api/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, err := s.app.Store.UserByEmail(t.Context(), "newcomer@example.com")
	if resp.StatusCode != http.StatusOK || err != nil || u.IsAdmin {
		t.Errorf("open registration by single sign-on = %d, user %+v, %v; want a new member", resp.StatusCode, u, err)
	}
}
