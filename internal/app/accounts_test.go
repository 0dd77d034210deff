package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/client"
)

// Registration: the first user signs up as admin, later ones only with an
// admin's invitation (for their email, once); sign-out everywhere ends every
// session; admins see users with their usage and the audit log.
func TestSignupInvitesAndSignOutEverywhere(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	ctx := t.Context()
	first := client.New(s.url, "")
	u, err := first.Signup(ctx, "root@example.com", "password123", "")
	if err != nil || !u.IsAdmin {
		t.Fatalf("first signup = %+v, %v; want an admin", u, err)
	}
	adminToken, err := first.CreateToken(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	admin := client.New(s.url, adminToken)

	if _, err := client.New(s.url, "").Signup(ctx, "bob@example.com", "password123", ""); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("signup without an invitation = %v, want 403", err)
	}
	inv, err := admin.CreateInvite(ctx, "Bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Email != "bob@example.com" || !strings.Contains(inv.URL, "invite="+inv.Token) {
		t.Errorf("invite = %+v", inv)
	}
	if _, err := client.New(s.url, "").Signup(ctx, "eve@example.com", "password123", inv.Token); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("invitation used for another email = %v, want 400", err)
	}
	bob1 := client.New(s.url, "")
	if u, err := bob1.Signup(ctx, "bob@example.com", "password123", inv.Token); err != nil || u.IsAdmin {
		t.Fatalf("invited signup = %+v, %v; want a member", u, err)
	}
	if _, err := client.New(s.url, "").Signup(ctx, "bob2@example.com", "password123", inv.Token); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("reused invitation = %v, want 400", err)
	}
	bobToken, err := bob1.CreateToken(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bob := client.New(s.url, bobToken)
	if _, err := bob.CreateInvite(ctx, "x@example.com"); !isStatus(err, http.StatusForbidden) {
		t.Errorf("member inviting = %v, want 403", err)
	}
	if _, err := bob.Users(ctx); !isStatus(err, http.StatusForbidden) {
		t.Errorf("member listing users = %v, want 403", err)
	}

	// Two browsers; signing out everywhere from one ends both.
	bob2 := client.New(s.url, "")
	if _, err := bob2.Login(ctx, "bob@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob2.Projects(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob1.LogoutAll(ctx); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"this browser": bob1, "the other browser": bob2} {
		if _, err := c.Projects(ctx); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("%s after sign-out everywhere: %v, want 401", name, err)
		}
	}
	if _, err := bob.Projects(ctx); err != nil {
		t.Errorf("API token after sign-out everywhere: %v (tokens are revoked one by one)", err)
	}
	// Revoking the token ends it.
	var tokens struct{ Tokens []struct{ ID string } }
	code, _, body := request(t, s, bobToken, http.MethodGet, "/api/auth/tokens", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("list tokens = %d %s", code, body)
	}
	mustDecode(t, body, &tokens)
	if len(tokens.Tokens) != 1 {
		t.Fatalf("tokens = %+v", tokens)
	}
	if code, _, _ := request(t, s, adminToken, http.MethodDelete, "/api/auth/tokens/"+tokens.Tokens[0].ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoking another user's token = %d, want 404", code)
	}
	if code, _, _ := request(t, s, bobToken, http.MethodDelete, "/api/auth/tokens/"+tokens.Tokens[0].ID, nil, nil); code != http.StatusNoContent {
		t.Errorf("revoking own token = %d, want 204", code)
	}
	if _, err := bob.Projects(ctx); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("revoked token: %v, want 401", err)
	}

	users, err := admin.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("users = %+v, %v", users, err)
	}
	events, err := admin.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range events {
		got[e.Event]++
	}
	for _, want := range []string{"sign_up", "sign_in", "invite_created", "sign_out_everywhere", "token_created", "token_revoked"} {
		if got[want] == 0 {
			t.Errorf("audit has no %s event: %v", want, got)
		}
	}
}

func TestOpenSignup(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"QV_OPEN_SIGNUP": "true"})
	ctx := t.Context()
	if _, err := client.New(s.url, "").Signup(ctx, "root@example.com", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if u, err := client.New(s.url, "").Signup(ctx, "bob@example.com", "password123", ""); err != nil || u.IsAdmin {
		t.Errorf("open signup = %+v, %v; want a member", u, err)
	}
}

// Every state-changing route refuses a browser's cross-site request, even
// with a valid session cookie.
func TestCrossSiteRequestsRefused(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	c := client.New(s.url, "")
	if _, err := c.Setup(t.Context(), "root@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	var session string
	for _, ck := range c.HTTP.Jar.Cookies(mustURL(t, s.url)) {
		if ck.Name == "qv_session" {
			session = ck.Value
		}
	}
	n := 0
	for _, r := range s.app.Routes() {
		method, path, found := strings.Cut(r.Pattern, " ")
		if !found || method == http.MethodGet || method == http.MethodHead {
			continue
		}
		n++
		path = strings.NewReplacer("{id}", "x", "{path...}", "a", "{v}", "v", "{shareId}", "s", "{token}", "t").Replace(path)
		code, _, body := request(t, s, "", method, path, map[string]string{}, http.Header{
			"Cookie":         {"qv_session=" + session},
			"Origin":         {"https://evil.example"},
			"Sec-Fetch-Site": {"cross-site"},
		})
		if code != http.StatusForbidden {
			t.Errorf("cross-site %s %s = %d %.100s; want 403", method, path, code, body)
		}
	}
	if n < 10 {
		t.Errorf("only %d state-changing routes checked", n)
	}
}

// Behind TLS (an https public URL) the session cookie is Secure.
func TestSecureCookiesBehindTLS(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"QV_PUBLIC_URL": "https://quickvibe.example.com", "QV_PREVIEW_DOMAIN": "preview.example.com"})
	code, h, body := request(t, s, "", http.MethodPost, "/api/auth/setup", map[string]string{"email": "root@example.com", "password": "password123"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("setup = %d %s", code, body)
	}
	resp := http.Response{Header: h}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "qv_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie behind TLS = %+v; want Secure, HttpOnly, SameSite=Lax", session)
	}
}
