package app_test

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// Push through the API to a bare repository served by the real git
// http-backend (CGI on loopback) that wants a token.
func TestPushToGitHTTPBackend(t *testing.T) {
	root := t.TempDir()
	if out, err := exec.Command("git", "init", "--bare", "--quiet", filepath.Join(root, "site.git")).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	const token = "glpat-right-token"
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root},
	}
	gitSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h := *backend
		h.Env = append(h.Env, "REMOTE_USER="+user) // lets http-backend accept pushes
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(gitSrv.Close)

	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageOne)),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + p.ID
	_, done := prompt(t, api, p.ID, "make a page")

	callJSON(t, s, api, http.MethodPost, base+"/push", struct{}{}, http.StatusConflict, nil)
	callJSON(t, s, api, http.MethodPut, base+"/remote", map[string]string{"url": "ftp://example.com/x"}, http.StatusBadRequest, nil)
	var rm struct {
		URL      string
		HasToken bool
	}
	remote := gitSrv.URL + "/site.git"
	callJSON(t, s, api, http.MethodPut, base+"/remote", map[string]string{"url": remote, "token": "wrong"}, http.StatusOK, &rm)
	code, body, _ := call(t, s, api, http.MethodPost, base+"/push", "", nil)
	if code != http.StatusBadGateway || !strings.Contains(string(body), "refused the credentials") || strings.Contains(string(body), "wrong") {
		t.Errorf("push with a wrong token = %d %s; want 502 saying the credentials were refused, without the token", code, body)
	}

	callJSON(t, s, api, http.MethodPut, base+"/remote", map[string]string{"url": remote, "token": token}, http.StatusOK, &rm)
	callJSON(t, s, api, http.MethodGet, base+"/remote", nil, http.StatusOK, &rm)
	if rm.URL != remote || !rm.HasToken {
		t.Errorf("remote = %+v", rm)
	}
	var pushed struct {
		Pushed    bool
		VersionID string
	}
	callJSON(t, s, api, http.MethodPost, base+"/push", nil, http.StatusOK, &pushed)
	got, err := exec.Command("git", "--git-dir", filepath.Join(root, "site.git"), "rev-parse", "refs/heads/main").Output()
	if err != nil || strings.TrimSpace(string(got)) != done.VersionID || pushed.VersionID != done.VersionID {
		t.Errorf("remote main = %q (%v), push answer %+v; want %s", got, err, pushed, done.VersionID)
	}
	show, err := exec.Command("git", "--git-dir", filepath.Join(root, "site.git"), "show", "main:index.html").Output()
	if err != nil || string(show) != pageOne {
		t.Errorf("pushed index.html = %q, %v", show, err)
	}
}
