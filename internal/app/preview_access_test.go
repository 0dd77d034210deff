package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/preview"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Previews are private: only a signed token bound to the user, sandbox and
// port, unexpired and of an active user, opens one; a share link works
// until revoked; a public preview needs nothing.
func TestPreviewAccess(t *testing.T) {
	model := pageModel(t)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	ctx := t.Context()
	admin := signUp(t, s)
	owner, ownerID := member(t, s, "alice@example.com", false)
	other, otherID := member(t, s, "bob@example.com", false)

	p, err := owner.CreateProject(ctx, "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	_, sandboxID := runPrompt(t, owner, p.ID, "hello preview")
	clean := s.app.Config().PreviewURL(sandboxID, 3000)
	// A second sandbox, of another project, for a token of the wrong sandbox.
	p2, err := owner.CreateProject(ctx, "Other site", "website")
	if err != nil {
		t.Fatal(err)
	}
	_, sandbox2 := runPrompt(t, owner, p2.ID, "second")

	secret, err := auth.LoadSecret(s.dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	signer := preview.NewSigner(secret)
	sign := func(subject, sbx string, port int, exp time.Time) string {
		tok, err := signer.Sign(preview.Claims{Subject: subject, SandboxID: sbx, Port: port, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	refused := func(what, token string) {
		t.Helper()
		code, body := getPreviewWith(t, s, clean, token)
		if code != http.StatusUnauthorized || !strings.Contains(body, "This preview is private") {
			t.Errorf("%s: preview = %d %q; want 401 page", what, code, body)
		}
	}
	admitted := func(what, token string) {
		t.Helper()
		code, body := getPreviewWith(t, s, clean, token)
		if code != http.StatusOK || !strings.Contains(body, "hello preview") {
			t.Errorf("%s: preview = %d %q; want 200 with the page", what, code, body)
		}
	}

	// The owner's signed URL, from the API.
	sp, err := owner.PreviewURL(ctx, p.ID, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sp.URL, clean+"?qv_preview_token=") || time.Until(sp.ExpiresAt) < 59*time.Minute || time.Until(sp.ExpiresAt) > time.Hour {
		t.Errorf("preview URL = %+v; want %s?qv_preview_token=… expiring in 1 h", sp, clean)
	}
	admitted("owner's token in the header", sp.Token)
	refused("no token", "")
	refused("expired token", sign("u:"+ownerID, sandboxID, 3000, time.Now().Add(-time.Second)))
	refused("token for another port", sign("u:"+ownerID, sandboxID, 3001, time.Now().Add(time.Hour)))
	sp3001, err := owner.PreviewURL(ctx, p.ID, 3001)
	if err != nil {
		t.Fatal(err)
	}
	refused("API token for another port", sp3001.Token)
	sp2, err := owner.PreviewURL(ctx, p2.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	refused("token for another sandbox ("+sandbox2+")", sp2.Token)
	refused("another user's token for this sandbox", sign("u:"+otherID, sandboxID, 3000, time.Now().Add(time.Hour)))
	refused("tampered token", sp.Token[:len(sp.Token)-2]+"xx")
	refused("token signed with another secret", func() string {
		tok, _ := preview.NewSigner([]byte("not the server secret, but long enough")).Sign(preview.Claims{Subject: "u:" + ownerID, SandboxID: sandboxID, Port: 3000, ExpiresAt: time.Now().Add(time.Hour)})
		return tok
	}())
	if _, err := other.PreviewURL(ctx, p.ID, 3000); !isStatus(err, http.StatusNotFound) {
		t.Errorf("another user's preview URL: %v, want 404", err)
	}

	// A browser frame: the signed URL sets a cookie for this preview host
	// only and redirects to the clean URL, which the cookie then opens.
	u, _ := url.Parse(sp.URL)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+u.RequestURI(), nil)
	req.Host = u.Host
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
		t.Fatalf("signed URL = %d to %q; want 303 to /", resp.StatusCode, loc)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == preview.TokenCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.Domain != "" || cookie.Path != "/" || cookie.Value != sp.Token {
		t.Fatalf("preview cookie = %+v; want host-only HttpOnly cookie with the token", cookie)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/", nil)
	req.Host = u.Host
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("clean URL with the cookie = %d, want 200", resp.StatusCode)
	}
	// The token never reaches the app's own origin as a cookie scope.
	if strings.Contains(resp.Header.Get("Set-Cookie"), "Domain=") {
		t.Error("preview cookie has a Domain")
	}

	// A share link, anonymously: its preview and files, until revoked.
	share, err := owner.CreateShare(ctx, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	anon := client.New(s.url, "")
	shared, err := anon.Shared(ctx, share.Token)
	if err != nil {
		t.Fatal(err)
	}
	if shared.Name != "Site" || shared.Preview == nil || !containsFile(shared.Files, "index.html") {
		t.Fatalf("shared project = %+v", shared)
	}
	admitted("share link's preview token", shared.Preview.Token)
	code, _, body := request(t, s, "", http.MethodGet, "/api/shares/"+share.Token+"/files/index.html", nil, nil)
	if code != http.StatusOK || !strings.Contains(body, "hello preview") {
		t.Errorf("shared file = %d %q", code, body)
	}
	code, _, body = request(t, s, "", http.MethodGet, "/s/"+share.Token, nil, nil)
	if code != http.StatusOK || !strings.Contains(body, "<iframe") || !strings.Contains(body, "index.html") {
		t.Errorf("share page = %d %q; want the preview frame and the file list", code, body)
	}
	// Read-only: the share token is not a credential for the project API.
	if code, _, _ := request(t, s, share.Token, http.MethodGet, "/api/projects/"+p.ID, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("share token as bearer = %d, want 401", code)
	}
	expiring, err := owner.CreateShare(ctx, p.ID, time.Hour)
	if err != nil || expiring.ExpiresAt == nil {
		t.Fatalf("share with expiry = %+v, %v", expiring, err)
	}
	if err := owner.RevokeShare(ctx, p.ID, share.ID); err != nil {
		t.Fatal(err)
	}
	refused("revoked share's preview token", shared.Preview.Token)
	if _, err := anon.Shared(ctx, share.Token); !isStatus(err, http.StatusNotFound) {
		t.Errorf("revoked share: %v, want 404", err)
	}
	if err := other.RevokeShare(ctx, p.ID, expiring.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("another user revoking a share: %v, want 404", err)
	}
	if _, err := anon.Shared(ctx, expiring.Token); err != nil {
		t.Errorf("the other share stopped working: %v", err)
	}

	// A public preview opens for anyone, and closes again.
	if err := owner.SetPublicPreview(ctx, p.ID, true); err != nil {
		t.Fatal(err)
	}
	admitted("public preview without a token", "")
	if err := owner.SetPublicPreview(ctx, p.ID, false); err != nil {
		t.Fatal(err)
	}
	refused("preview made private again", "")
	if err := other.SetPublicPreview(ctx, p.ID, true); !isStatus(err, http.StatusNotFound) {
		t.Errorf("another user making it public: %v, want 404", err)
	}

	// Disabling the owner: their token stops working and sandboxes stop.
	admitted("owner's token before disabling", sp.Token)
	if err := admin.DisableUser(ctx, ownerID); err != nil {
		t.Fatal(err)
	}
	refused("token of a disabled user", sp.Token)
	if _, err := owner.Projects(ctx); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("disabled user's API token: %v, want 401", err)
	}
	if _, err := anon.Shared(ctx, expiring.Token); !isStatus(err, http.StatusNotFound) {
		t.Errorf("disabled user's share: %v, want 404", err)
	}
	for _, id := range []string{sandboxID, sandbox2} {
		info, err := s.app.Sandboxes().Get(ctx, id)
		if err != nil || info.State != sandbox.StateStopped {
			t.Errorf("sandbox %s of the disabled user = %+v, %v; want stopped", id, info, err)
		}
	}
	if _, err := client.New(s.url, "").Login(ctx, "alice@example.com", "password123"); !isStatus(err, http.StatusForbidden) {
		t.Errorf("disabled user signing in: %v, want 403", err)
	}

	events, err := admin.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range events {
		got[e.Event]++
	}
	for event, n := range map[string]int{"share_created": 2, "share_revoked": 1, "preview_visibility_changed": 2, "user_disabled": 1} {
		if got[event] != n {
			t.Errorf("audit has %d %s events, want %d (all: %v)", got[event], event, n, got)
		}
	}
}
