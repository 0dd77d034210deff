package app_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/project"
)

// call makes one API request with c's token and returns the status and body.
func call(t *testing.T, s *server, c *client.Client, method, path, contentType string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// callJSON makes a request that must answer want, decoding the JSON answer into out.
func callJSON(t *testing.T, s *server, c *client.Client, method, path string, in any, want int, out any) {
	t.Helper()
	var body io.Reader
	ct := ""
	if in != nil {
		b, _ := json.Marshal(in)
		body, ct = bytes.NewReader(b), "application/json"
	}
	code, b, _ := call(t, s, c, method, path, ct, body)
	if code != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type versionOut struct {
	ID, ParentID, Message, Kind, RunID, Author string
}

func listVersions(t *testing.T, s *server, c *client.Client, projectID string) []versionOut {
	t.Helper()
	var out struct{ Versions []versionOut }
	callJSON(t, s, c, http.MethodGet, "/api/projects/"+projectID+"/versions", nil, http.StatusOK, &out)
	return out.Versions
}

// prompt runs one prompt to its end and returns the complete event's data.
func prompt(t *testing.T, c *client.Client, projectID, text string) (runID string, done struct {
	Success                          bool
	VersionID, PreviewURL, SandboxID string
}) {
	t.Helper()
	var last client.Event
	runID, err := c.PromptStream(t.Context(), projectID, text, func(e client.Event) error {
		last = e
		return nil
	})
	if err != nil {
		t.Fatalf("prompt %q: %v", text, err)
	}
	if last.Type != "complete" {
		t.Fatalf("prompt %q ended with %s %s", text, last.Type, last.Data)
	}
	if err := json.Unmarshal(last.Data, &done); err != nil {
		t.Fatal(err)
	}
	return runID, done
}

// withStarter is the files of a website project that began with the
// website starter and then got files: the starter's, replaced or joined by
// files.
func withStarter(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	starter, err := project.Starter("website")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for p, data := range starter {
		out[p] = string(data)
	}
	maps.Copy(out, files)
	return out
}

// workspace reads every file of the project's sandbox through the API.
func workspace(t *testing.T, c *client.Client, projectID string) map[string]string {
	t.Helper()
	files, err := c.Files(t.Context(), projectID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		if f.IsDir {
			continue
		}
		b, err := c.File(t.Context(), projectID, f.Path)
		if err != nil {
			t.Fatalf("read %s: %v", f.Path, err)
		}
		out[f.Path] = string(b)
	}
	return out
}

const (
	pageOne   = "<!doctype html>\n<h1>One</h1>\n<p>first</p>\n"
	pageTwo   = "<!doctype html>\n<h1>Two</h1>\n<p>first</p>\n"
	pageThree = "<!doctype html>\n<h1>Two</h1>\n<p>third</p>\n"
)

func TestVersionsRestoreEditExportImport(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageOne)),
		anthropictest.Reply(anthropictest.Text("Made page one.")),
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageTwo), anthropictest.WriteFile("about.html", "<p>about</p>\n")),
		anthropictest.Reply(anthropictest.Text("Made page two.")),
		anthropictest.Reply(anthropictest.EditFile("index.html", "<p>first</p>", "<p>third</p>")),
		anthropictest.Reply(anthropictest.Text("Changed one line.")),
	)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	api := signUp(t, s)
	ctx := t.Context()
	p, err := api.CreateProject(ctx, "My Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + p.ID

	// Three prompts make three versions, each named in its complete event.
	prompts := []string{"make page one", "make page two", "change one line"}
	var runIDs, versionIDs []string
	var previewURL string
	for _, text := range prompts {
		runID, done := prompt(t, api, p.ID, text)
		if done.VersionID == "" {
			t.Fatalf("complete event of %q has no versionId", text)
		}
		runIDs, versionIDs, previewURL = append(runIDs, runID), append(versionIDs, done.VersionID), done.PreviewURL
	}
	vs := listVersions(t, s, api, p.ID)
	if len(vs) != 3 {
		t.Fatalf("versions = %+v; want 3", vs)
	}
	for i, v := range vs {
		j := 2 - i // newest first
		if v.ID != versionIDs[j] || v.Message != prompts[j] || v.RunID != runIDs[j] || v.Author != "owner@example.com" || v.Kind != "run" {
			t.Errorf("version %d = %+v; want id %s, message %q, run %s, author owner@example.com, kind run", i, v, versionIDs[j], prompts[j], runIDs[j])
		}
	}

	// The diff of a one-line edit is one line.
	var d struct {
		ParentID string
		Files    []struct {
			Path           string
			Added, Removed int
		}
		Diff string
	}
	callJSON(t, s, api, http.MethodGet, base+"/versions/"+versionIDs[2]+"/diff", nil, http.StatusOK, &d)
	if d.ParentID != versionIDs[1] || len(d.Files) != 1 || d.Files[0].Path != "index.html" || d.Files[0].Added != 1 || d.Files[0].Removed != 1 {
		t.Errorf("diff = %+v; want index.html +1 -1 against %s", d, versionIDs[1])
	}
	if !strings.Contains(d.Diff, "\n-<p>first</p>\n+<p>third</p>\n") {
		t.Errorf("unified diff = %q", d.Diff)
	}

	// A version's files, and one file served inert.
	var one struct {
		Version versionOut
		Files   []struct{ Path string }
	}
	callJSON(t, s, api, http.MethodGet, base+"/versions/"+versionIDs[0], nil, http.StatusOK, &one)
	var paths []string
	for _, f := range one.Files {
		paths = append(paths, f.Path)
	}
	if diff := cmp.Diff([]string{"index.html", "script.js", "style.css"}, paths); diff != "" {
		t.Errorf("files of version 1 (-want +got):\n%s", diff)
	}
	code, body, h := call(t, s, api, http.MethodGet, base+"/versions/"+versionIDs[0]+"/files/index.html", "", nil)
	if code != http.StatusOK || string(body) != pageOne || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("version file = %d %q %v; want page one, inert", code, body, h)
	}

	// Restoring the first version brings back its files and its preview,
	// as a new version on top of the history.
	var restored struct {
		Version      versionOut
		RestoredFrom string
	}
	callJSON(t, s, api, http.MethodPost, base+"/versions/"+versionIDs[0][:12]+"/restore", nil, http.StatusOK, &restored)
	if restored.RestoredFrom != versionIDs[0] || restored.Version.ParentID != versionIDs[2] || restored.Version.Kind != "restore" {
		t.Errorf("restore = %+v; want a new version on top of %s restoring %s", restored, versionIDs[2], versionIDs[0])
	}
	if diff := cmp.Diff(withStarter(t, map[string]string{"index.html": pageOne}), workspace(t, api, p.ID)); diff != "" {
		t.Errorf("sandbox after restore mismatch (-want +got):\n%s", diff)
	}
	if code, body := getPreview(t, s, previewURL); code != http.StatusOK || !strings.Contains(body, "<h1>One</h1>") {
		t.Errorf("preview after restore = %d %q; want page one", code, body)
	}
	if n := len(listVersions(t, s, api, p.ID)); n != 4 {
		t.Errorf("after restore: %d versions, want 4", n)
	}

	// Saving a file from the editor writes the sandbox and makes a version.
	code, body, _ = call(t, s, api, http.MethodPut, base+"/files/css/site.css", "text/css", strings.NewReader("body { color: red }\n"))
	var saved struct{ VersionID string }
	if code != http.StatusOK || json.Unmarshal(body, &saved) != nil || saved.VersionID == "" {
		t.Fatalf("PUT file = %d %s; want 200 with a versionId", code, body)
	}
	vs = listVersions(t, s, api, p.ID)
	if vs[0].ID != saved.VersionID || vs[0].Message != "Edited css/site.css" || vs[0].Kind != "edit" {
		t.Errorf("latest version = %+v; want the save", vs[0])
	}
	if got, err := api.File(ctx, p.ID, "css/site.css"); err != nil || string(got) != "body { color: red }\n" {
		t.Errorf("saved file in the sandbox = %q, %v", got, err)
	}
	for _, bad := range []string{"%2e%2e/escape.txt", ".git/config"} {
		if code, body, _ := call(t, s, api, http.MethodPut, base+"/files/"+bad, "", strings.NewReader("x")); code != http.StatusBadRequest {
			t.Errorf("PUT %s = %d %s; want 400", bad, code, body)
		}
	}

	// Export, then import: the same bytes, as a new project.
	want := withStarter(t, map[string]string{"index.html": pageOne, "css/site.css": "body { color: red }\n"})
	code, zipBytes, h := call(t, s, api, http.MethodGet, base+"/export.zip", "", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "application/zip" {
		t.Fatalf("export.zip = %d %v", code, h)
	}
	if diff := cmp.Diff(want, unzip(t, zipBytes)); diff != "" {
		t.Errorf("export.zip mismatch (-want +got):\n%s", diff)
	}
	code, oldZip, _ := call(t, s, api, http.MethodGet, base+"/export.zip?version="+versionIDs[1], "", nil)
	if code != http.StatusOK {
		t.Fatalf("export.zip?version = %d", code)
	}
	if diff := cmp.Diff(withStarter(t, map[string]string{"index.html": pageTwo, "about.html": "<p>about</p>\n"}), unzip(t, oldZip)); diff != "" {
		t.Errorf("export.zip?version=v2 mismatch (-want +got):\n%s", diff)
	}
	code, bundle, _ := call(t, s, api, http.MethodGet, base+"/export.bundle", "", nil)
	if code != http.StatusOK || !bytes.HasPrefix(bundle, []byte("# v2 git bundle\n")) {
		t.Fatalf("export.bundle = %d %.40q", code, bundle)
	}
	for name, upload := range map[string][]byte{"site.zip": zipBytes, "site.bundle": bundle} {
		var imp struct {
			Project struct{ ID, Name, Type string }
			Version versionOut
		}
		code, body := importFile(t, s, api, name, upload, map[string]string{"name": "Imported " + name})
		if code != http.StatusCreated || json.Unmarshal(body, &imp) != nil {
			t.Fatalf("import %s = %d %s", name, code, body)
		}
		if imp.Project.Name != "Imported "+name || imp.Project.Type != "website" {
			t.Errorf("imported project = %+v", imp.Project)
		}
		_, got, _ := call(t, s, api, http.MethodGet, "/api/projects/"+imp.Project.ID+"/export.zip", "", nil)
		if diff := cmp.Diff(want, unzip(t, got)); diff != "" {
			t.Errorf("files of the project imported from %s mismatch (-want +got):\n%s", name, diff)
		}
		if name == "site.bundle" {
			if n := len(listVersions(t, s, api, imp.Project.ID)); n != 5 {
				t.Errorf("project imported from the bundle has %d versions, want the 5 of the history", n)
			}
		}
	}
	// A hostile archive is refused with a reason, and makes no project.
	before, _ := api.Projects(ctx)
	code, body = importFile(t, s, api, "evil.zip", zipWith(t, map[string]string{"../evil.txt": "x"}), nil)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "leads outside the project") {
		t.Errorf("import of a zip-slip archive = %d %s; want 400 saying why", code, body)
	}
	if after, _ := api.Projects(ctx); len(after) != len(before) {
		t.Errorf("a refused import made a project")
	}

	// Another user gets 404 on every version route of this project.
	if _, err := s.app.Auth.AddUser(ctx, "other@example.com", "other password", false); err != nil {
		t.Fatal(err)
	}
	other := client.New(s.url, "")
	if _, err := other.Login(ctx, "other@example.com", "other password"); err != nil {
		t.Fatal(err)
	}
	otherToken, err := other.CreateToken(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	other = client.New(s.url, otherToken)
	v := versionIDs[0]
	for _, r := range []struct{ method, path, body string }{
		{"GET", base + "/versions", ""},
		{"GET", base + "/versions/" + v, ""},
		{"GET", base + "/versions/" + v + "/files/index.html", ""},
		{"GET", base + "/versions/" + v + "/diff", ""},
		{"POST", base + "/versions/" + v + "/restore", ""},
		{"PUT", base + "/files/index.html", "pwned"},
		{"GET", base + "/export.zip", ""},
		{"GET", base + "/export.bundle", ""},
		{"GET", base + "/remote", ""},
		{"PUT", base + "/remote", `{"url":"https://example.com/x.git"}`},
		{"POST", base + "/push", ""},
	} {
		code, body, _ := call(t, s, other, r.method, r.path, "application/json", strings.NewReader(r.body))
		if code != http.StatusNotFound {
			t.Errorf("other user's %s %s = %d %s; want 404", r.method, r.path, code, body)
		}
	}
	if got, _ := api.File(ctx, p.ID, "index.html"); string(got) != pageOne {
		t.Errorf("index.html after the other user's attempts = %q", got)
	}
}

func importFile(t *testing.T, s *server, c *client.Client, name string, data []byte, fields map[string]string) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	code, body, _ := call(t, s, c, http.MethodPost, "/api/projects/import", mw.FormDataContentType(), &buf)
	return code, body
}

func unzip(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("read zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(b)
	}
	return out
}

func zipWith(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	zw.Close()
	return buf.Bytes()
}
