package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// authorized in the matrix means the request got past authorization: any
// answer but 401, 403 and 404 (a 400 for the matrix's empty body is fine).
const authorized = -1

// authorizedOrMissing also accepts 404, for a resource the owner may not
// have yet (a thumbnail is taken in the background).
const authorizedOrMissing = -2

// expect is the answer of one route to each kind of caller.
type expect struct{ anon, other, owner, admin int }

var (
	ownerOnly  = expect{http.StatusUnauthorized, http.StatusNotFound, authorized, http.StatusNotFound}
	anyUser    = expect{http.StatusUnauthorized, authorized, authorized, authorized}
	adminOnly  = expect{http.StatusUnauthorized, http.StatusForbidden, http.StatusForbidden, authorized}
	everyone   = func(status int) expect { return expect{status, status, status, status} }
	shareToken = everyone(http.StatusOK)
)

// authzMatrix holds every route the server registers. Adding a route
// without adding it here fails TestAuthorizationMatrix.
var authzMatrix = map[string]expect{
	"GET /api/status":             everyone(http.StatusOK),
	"POST /api/auth/setup":        everyone(http.StatusConflict),
	"POST /api/auth/login":        everyone(http.StatusUnauthorized), // the matrix sends no credentials
	"POST /api/auth/signup":       everyone(http.StatusForbidden),    // registration is closed
	"GET /api/auth/oidc/login":    everyone(http.StatusNotFound),     // not configured here
	"GET /api/auth/oidc/callback": everyone(http.StatusNotFound),

	"POST /api/auth/logout":        anyUser,
	"POST /api/auth/logout-all":    anyUser,
	"GET /api/auth/me":             anyUser,
	"POST /api/auth/tokens":        anyUser,
	"GET /api/auth/tokens":         anyUser,
	"DELETE /api/auth/tokens/{id}": {http.StatusUnauthorized, http.StatusNotFound, http.StatusNoContent, http.StatusNotFound},
	"GET /api/project-types":       anyUser,
	"GET /api/projects":            anyUser,
	"POST /api/projects":           anyUser,
	"POST /api/projects/import":    anyUser,

	"GET /api/projects/{id}":                              ownerOnly,
	"PATCH /api/projects/{id}":                            ownerOnly,
	"DELETE /api/projects/{id}":                           ownerOnly,
	"GET /api/projects/{id}/runs":                         ownerOnly,
	"GET /api/projects/{id}/thumbnail.png":                {http.StatusUnauthorized, http.StatusNotFound, authorizedOrMissing, http.StatusNotFound},
	"GET /api/projects/{id}/files":                        ownerOnly,
	"GET /api/projects/{id}/files/{path...}":              ownerOnly,
	"PUT /api/projects/{id}/files/{path...}":              ownerOnly,
	"POST /api/projects/{id}/prompts":                     ownerOnly,
	"GET /api/projects/{id}/versions":                     ownerOnly,
	"GET /api/projects/{id}/versions/{v}":                 ownerOnly,
	"GET /api/projects/{id}/versions/{v}/files/{path...}": ownerOnly,
	"GET /api/projects/{id}/versions/{v}/diff":            ownerOnly,
	"POST /api/projects/{id}/versions/{v}/restore":        ownerOnly,
	"GET /api/projects/{id}/versions/{v}/thumbnail.png":   {http.StatusUnauthorized, http.StatusNotFound, authorizedOrMissing, http.StatusNotFound},
	"GET /api/projects/{id}/export.zip":                   ownerOnly,
	"GET /api/projects/{id}/export.bundle":                ownerOnly,
	"GET /api/projects/{id}/remote":                       ownerOnly,
	"PUT /api/projects/{id}/remote":                       ownerOnly,
	"POST /api/projects/{id}/push":                        ownerOnly,
	"GET /api/projects/{id}/preview-url":                  {http.StatusUnauthorized, http.StatusNotFound, http.StatusOK, http.StatusNotFound},
	"PUT /api/projects/{id}/visibility":                   {http.StatusUnauthorized, http.StatusNotFound, http.StatusOK, http.StatusNotFound},
	"GET /api/projects/{id}/shares":                       {http.StatusUnauthorized, http.StatusNotFound, http.StatusOK, http.StatusNotFound},
	"POST /api/projects/{id}/shares":                      {http.StatusUnauthorized, http.StatusNotFound, http.StatusCreated, http.StatusNotFound},
	"DELETE /api/projects/{id}/shares/{shareId}":          {http.StatusUnauthorized, http.StatusNotFound, http.StatusNoContent, http.StatusNotFound},

	"GET /api/usage":               anyUser,
	"GET /api/projects/{id}/usage": ownerOnly,
	"GET /api/runs/{id}/usage":     ownerOnly,
	"GET /api/runs/{id}":           ownerOnly,
	"GET /api/runs/{id}/events":    ownerOnly,
	"POST /api/runs/{id}/cancel":   ownerOnly,

	"GET /api/sandboxes":               anyUser,
	"GET /api/sandboxes/{id}":          ownerOnly,
	"POST /api/sandboxes/{id}/start":   ownerOnly,
	"POST /api/sandboxes/{id}/stop":    ownerOnly,
	"DELETE /api/sandboxes/{id}":       ownerOnly,
	"GET /api/sandboxes/{id}/logs":     ownerOnly,
	"GET /api/sandboxes/{id}/terminal": ownerOnly,

	"GET /api/shares/{token}":                 shareToken,
	"GET /api/shares/{token}/files/{path...}": shareToken,
	"GET /s/{token}":                          shareToken,

	"GET /api/admin/users":               {http.StatusUnauthorized, http.StatusForbidden, http.StatusForbidden, http.StatusOK},
	"POST /api/admin/users/{id}/disable": {http.StatusUnauthorized, http.StatusForbidden, http.StatusForbidden, http.StatusOK},
	"POST /api/admin/users/{id}/enable":  {http.StatusUnauthorized, http.StatusForbidden, http.StatusForbidden, http.StatusOK},
	"POST /api/admin/invites":            adminOnly,
	"GET /api/admin/audit":               {http.StatusUnauthorized, http.StatusForbidden, http.StatusForbidden, http.StatusOK},

	"/api/": {http.StatusUnauthorized, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound},
}

// TestAuthorizationMatrix walks every route the server registers as an
// anonymous caller, another member, the owner of the resources named in the
// path and an admin, and checks each answer against authzMatrix.
func TestAuthorizationMatrix(t *testing.T) {
	model := pageModel(t)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	ctx := t.Context()
	admin := signUp(t, s)
	owner, _ := member(t, s, "alice@example.com", false)
	other, _ := member(t, s, "bob@example.com", false)
	_, victimID := member(t, s, "carol@example.com", false)

	p, err := owner.CreateProject(ctx, "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, sandboxID := runPrompt(t, owner, p.ID, "matrix")
	keep, err := owner.CreateShare(ctx, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	revocable, err := owner.CreateShare(ctx, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	spare, err := owner.CreateToken(ctx, "spare")
	if err != nil {
		t.Fatal(err)
	}
	var tokens struct{ Tokens []struct{ ID, Name string } }
	if code, _, body := request(t, s, owner.Token, http.MethodGet, "/api/auth/tokens", nil, nil); code != http.StatusOK {
		t.Fatalf("list tokens = %d %s", code, body)
	} else {
		mustDecode(t, body, &tokens)
	}
	spareID := ""
	for _, tk := range tokens.Tokens {
		if tk.Name == "spare" {
			spareID = tk.ID
		}
	}
	_ = spare
	var versions struct{ Versions []struct{ ID string } }
	version := "none"
	if code, _, body := request(t, s, owner.Token, http.MethodGet, "/api/projects/"+p.ID+"/versions", nil, nil); code == http.StatusOK {
		mustDecode(t, body, &versions)
		if len(versions.Versions) > 0 {
			version = versions.Versions[0].ID
		}
	}

	fill := func(pattern string) (method, path string) {
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			method, path = http.MethodGet, pattern
		}
		if path == "/api/" {
			return method, "/api/no-such-route"
		}
		id := map[string]string{
			"/api/projects/":    p.ID,
			"/api/runs/":        runID,
			"/api/sandboxes/":   sandboxID,
			"/api/admin/users/": victimID,
			"/api/auth/tokens/": spareID,
		}
		for prefix, v := range id {
			if strings.HasPrefix(path, prefix) {
				path = strings.Replace(path, "{id}", v, 1)
			}
		}
		r := strings.NewReplacer("{path...}", "index.html", "{v}", version, "{shareId}", revocable.ID, "{token}", keep.Token)
		return method, r.Replace(path)
	}

	routes := s.app.Routes()
	seen := map[string]bool{}
	for _, r := range routes {
		seen[r.Pattern] = true
		if _, ok := authzMatrix[r.Pattern]; !ok {
			t.Errorf("route %q (%s) is not in the authorization matrix: add what anonymous, another member, the owner and an admin get", r.Pattern, r.Access)
		}
	}
	for pattern := range authzMatrix {
		if !seen[pattern] {
			t.Errorf("the authorization matrix lists %q, which the server does not register", pattern)
		}
	}
	// Destructive routes go last, so the resources stay in place for every
	// other route; the owner deletes a project of its own.
	doomed, err := owner.CreateProject(ctx, "Doomed", "website")
	if err != nil {
		t.Fatal(err)
	}
	rank := func(pattern string) int {
		switch {
		case strings.HasPrefix(pattern, "DELETE /api/sandboxes/"), pattern == "DELETE /api/projects/{id}":
			return 2
		case strings.HasPrefix(pattern, "POST /api/sandboxes/{id}/stop"), strings.HasPrefix(pattern, "POST /api/admin/users/{id}/disable"):
			return 1
		}
		return 0
	}
	slices.SortStableFunc(routes, func(a, b httpapiRoute) int { return rank(a.Pattern) - rank(b.Pattern) })

	callers := []struct {
		name  string
		token string
		want  func(expect) int
	}{
		{"anonymous", "", func(e expect) int { return e.anon }},
		{"another member", other.Token, func(e expect) int { return e.other }},
		{"admin", admin.Token, func(e expect) int { return e.admin }},
		{"owner", owner.Token, func(e expect) int { return e.owner }},
	}
	for _, r := range routes {
		e, ok := authzMatrix[r.Pattern]
		if !ok {
			continue
		}
		method, path := fill(r.Pattern)
		for _, c := range callers {
			var body any
			if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
				body = map[string]any{}
				if r.Pattern == "PUT /api/projects/{id}/visibility" {
					body = map[string]any{"publicPreview": false}
				}
			}
			switch r.Pattern {
			case "POST /api/auth/setup":
				body = map[string]any{"email": "late@example.com", "password": "password123"}
			case "POST /api/auth/login":
				body = map[string]any{"email": "alice@example.com", "password": "not her password"}
			}
			path := path
			if c.name == "owner" && r.Pattern == "DELETE /api/projects/{id}" {
				path = strings.Replace(path, p.ID, doomed.ID, 1)
			}
			code, _, text := request(t, s, c.token, method, path, body, nil)
			want := c.want(e)
			switch {
			case want == authorizedOrMissing && (code == http.StatusUnauthorized || code == http.StatusForbidden):
				t.Errorf("%s as %s (%s %s) = %d %.200s; want it authorized", r.Pattern, c.name, method, path, code, text)
			case want == authorized && (code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound):
				t.Errorf("%s as %s (%s %s) = %d %.200s; want it authorized", r.Pattern, c.name, method, path, code, text)
			case want >= 0 && code != want:
				t.Errorf("%s as %s (%s %s) = %d %.200s; want %d", r.Pattern, c.name, method, path, code, text, want)
			}
		}
	}
	// A share route with a token that is not a live share is "not found".
	if code, _, _ := request(t, s, "", http.MethodGet, "/api/shares/"+revocable.Token, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoked share = %d, want 404", code)
	}
}
