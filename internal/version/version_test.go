package version_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/version"
)

func newService(t *testing.T) (*version.Service, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "projects")
	s, err := version.New(version.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func commit(msg string) version.Commit {
	return version.Commit{Message: msg, Kind: version.KindEdit, AuthorEmail: "me@example.com", Time: time.Unix(1700000000, 0)}
}

func edit(t *testing.T, s *version.Service, project, path, content string) version.Version {
	t.Helper()
	v, err := s.Edit(t.Context(), project, path, []byte(content), commit("Edited "+path))
	if err != nil {
		t.Fatalf("Edit(%s): %v", path, err)
	}
	return v
}

func TestEditListAndOneLineDiff(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	const p = "p1"
	v1 := edit(t, s, p, "index.html", "<h1>one</h1>\n<p>two</p>\n<p>three</p>\n")
	edit(t, s, p, "css/site.css", "body{}\n")
	v3 := edit(t, s, p, "index.html", "<h1>one</h1>\n<p>TWO</p>\n<p>three</p>\n")

	vs, err := s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].ID != v3.ID || vs[2].ID != v1.ID || vs[2].ParentID != "" || vs[0].ParentID != vs[1].ID {
		t.Fatalf("List = %+v; want 3 versions, newest first, chained", vs)
	}
	if vs[0].Message != "Edited index.html" || vs[0].AuthorEmail != "me@example.com" || vs[0].Kind != version.KindEdit {
		t.Errorf("latest version = %+v; want message, author and kind recorded", vs[0])
	}

	d, err := s.Diff(ctx, p, v3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]version.FileDiff{{Path: "index.html", Added: 1, Removed: 1}}, d.Files); diff != "" {
		t.Errorf("Diff files mismatch (-want +got):\n%s", diff)
	}
	var changed []string
	for _, l := range strings.Split(d.Patch, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l)
		}
	}
	if diff := cmp.Diff([]string{"-<p>two</p>", "+<p>TWO</p>"}, changed); diff != "" {
		t.Errorf("changed lines of the unified diff mismatch (-want +got):\n%s\n%s", diff, d.Patch)
	}

	// The first version diffs against nothing.
	d1, err := s.Diff(ctx, p, v1.ID[:10])
	if err != nil {
		t.Fatal(err)
	}
	if len(d1.Files) != 1 || d1.Files[0].Added != 3 {
		t.Errorf("first version diff = %+v; want index.html with 3 added lines", d1.Files)
	}

	old, err := s.ReadFile(ctx, p, v1.ID, "index.html")
	if err != nil || !strings.Contains(string(old), "two") {
		t.Errorf("ReadFile(v1) = %q, %v", old, err)
	}
	for _, bad := range []string{"zzzz", "../x", "HEAD", "main", v1.ID + "~1"} {
		if _, err := s.Get(ctx, p, bad); !errors.Is(err, version.ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := s.ReadFile(ctx, p, v1.ID, "../etc/passwd"); !errors.Is(err, version.ErrBadPath) {
		t.Errorf("ReadFile(../etc/passwd): err = %v, want ErrBadPath", err)
	}
}

func TestRestoreWithoutSandboxAddsVersionWithOldTree(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	v1 := edit(t, s, "p", "a.txt", "first\n")
	edit(t, s, "p", "b.txt", "second\n")
	r, err := s.Restore(ctx, "p", v1.ID, "", version.Commit{Message: "Restored", Kind: version.KindRestore})
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.Files(ctx, "p", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]version.File{{Path: "a.txt", Size: 6}}, files); diff != "" {
		t.Errorf("restored files mismatch (-want +got):\n%s", diff)
	}
	vs, _ := s.List(ctx, "p")
	if len(vs) != 3 {
		t.Errorf("after restore: %d versions, want 3 (history is never rewritten)", len(vs))
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		// Stored, not deflated: a deflater per entry is slow for 10,000.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportImportRoundTrip(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	binary := string([]byte{0, 1, 2, 255, 254, '\n', '\r', '\n'})
	want := map[string]string{"index.html": "<h1>hi</h1>\n", "assets/logo.bin": binary, "js/app.js": "console.log(1)\r\n"}
	for p, c := range want {
		edit(t, s, "src", p, c)
	}
	var zbuf, bbuf bytes.Buffer
	if err := s.ExportZip(ctx, "src", "", &zbuf); err != nil {
		t.Fatal(err)
	}
	if err := s.ExportBundle(ctx, "src", &bbuf); err != nil {
		t.Fatal(err)
	}
	for name, upload := range map[string][]byte{"zip": zbuf.Bytes(), "bundle": bbuf.Bytes()} {
		dst := "dst-" + name
		v, err := s.Import(ctx, dst, bytes.NewReader(upload), commit("Imported"))
		if err != nil {
			t.Fatalf("Import(%s): %v", name, err)
		}
		got := map[string]string{}
		files, err := s.Files(ctx, dst, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := s.ReadFile(ctx, dst, v.ID, f.Path)
			if err != nil {
				t.Fatal(err)
			}
			got[f.Path] = string(data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s round trip mismatch (-want +got):\n%s", name, diff)
		}
		if name == "bundle" {
			vs, _ := s.List(ctx, dst)
			if len(vs) != 3 {
				t.Errorf("bundle import kept %d versions, want the 3 of the history", len(vs))
			}
		}
	}
}

func TestImportRefusesHostileArchives(t *testing.T) {
	// Small byte limits keep the bombs cheap to build and to inflate; the
	// file count limit is the default.
	dir := filepath.Join(t.TempDir(), "projects")
	s, err := version.New(version.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler), ImportLimits: version.Limits{File: 2 << 20, Bytes: 8 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()

	symlink := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "link", Method: zip.Store}
		h.SetMode(fs.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(outside))
		zw.Close()
		return buf.Bytes()
	}
	manyFiles := func() []byte {
		files := make(map[string]string, 10000)
		for i := range 10000 {
			files[fmt.Sprintf("f%05d.txt", i)] = "x"
		}
		return zipOf(t, files)
	}
	// bomb holds files entries of size MiB of zeros each, compressed once
	// and copied raw, so building it stays cheap.
	bomb := func(files, size int) []byte {
		var one bytes.Buffer
		zw := zip.NewWriter(&one)
		w, _ := zw.Create("zero")
		zero := make([]byte, 1<<20)
		for range size {
			w.Write(zero)
		}
		zw.Close()
		zr, _ := zip.NewReader(bytes.NewReader(one.Bytes()), int64(one.Len()))
		var raw bytes.Buffer
		r, _ := zr.File[0].OpenRaw()
		raw.ReadFrom(r)
		var buf bytes.Buffer
		zw = zip.NewWriter(&buf)
		for i := range files {
			h := zr.File[0].FileHeader
			h.Name = fmt.Sprintf("zero%d", i)
			w, _ := zw.CreateRaw(&h)
			w.Write(raw.Bytes())
		}
		zw.Close()
		return buf.Bytes()
	}
	// A bomb whose headers lie about the size: only counting inflated
	// bytes catches it.
	lyingBomb := func() []byte {
		data := bomb(1, 3)
		zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		f := zr.File[0]
		raw, _ := f.OpenRaw()
		h := f.FileHeader
		h.UncompressedSize64 = 10
		w, _ := zw.CreateRaw(&h)
		var rawBuf bytes.Buffer
		rawBuf.ReadFrom(raw)
		w.Write(rawBuf.Bytes())
		zw.Close()
		return buf.Bytes()
	}

	// A bundle whose tree holds a ".." entry: git mktree makes it, fsck
	// must refuse it.
	dotdotBundle := func() []byte {
		repo := filepath.Join(t.TempDir(), "hostile.git")
		git := func(stdin string, args ...string) string {
			cmd := exec.Command("git", append([]string{"--git-dir", repo}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("git %v: %v", args, err)
			}
			return strings.TrimSpace(string(out))
		}
		git("", "init", "--bare", "--quiet")
		blob := git("pwned\n", "hash-object", "-w", "--stdin")
		sub := git("100644 blob "+blob+"\tevil.txt\n", "mktree")
		tree := git("040000 tree "+sub+"\t..\n", "mktree")
		c := git("", "commit-tree", tree, "-m", "x")
		git("", "update-ref", "refs/heads/main", c)
		file := filepath.Join(t.TempDir(), "hostile.bundle")
		git("", "bundle", "create", "--quiet", file, "main")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	tests := []struct {
		name   string
		upload []byte
		want   string
	}{
		{"bundle with a .. entry", dotdotBundle(), "the git bundle was refused"},
		{"zip slip", zipOf(t, map[string]string{"ok.txt": "x", "../../evil.txt": "pwned"}), "leads outside"},
		{"absolute path", zipOf(t, map[string]string{"/tmp/evil.txt": "pwned"}), "absolute"},
		{"symlink", symlink(), "symbolic link"},
		{"10000 files", manyFiles(), "at most 5000 files"},
		{"zip bomb, one file", bomb(1, 3), "larger than 2 MiB"},
		{"zip bomb, headers lie", lyingBomb(), "cannot be read from the archive"},
		{"zip bomb, many files", bomb(5, 2), "expands to more than 8 MiB (a zip bomb?)"},
		{"git dir only", zipOf(t, map[string]string{".git/config": "[core]"}), "no files"},
		{"not an archive", []byte("hello, world"), "neither a zip archive nor a git bundle"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project := fmt.Sprintf("bad%d", i)
			_, err := s.Import(t.Context(), project, bytes.NewReader(tt.upload), commit("Imported"))
			ue, ok := errors.AsType[*version.UnsafeError](err)
			if !ok || !strings.Contains(ue.Msg, tt.want) {
				t.Fatalf("Import: err = %v; want an UnsafeError saying %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, project)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused import left its directory behind (stat: %v)", err)
			}
		})
	}
	for _, d := range []string{outside, filepath.Dir(dir), "/tmp"} {
		if _, err := os.Stat(filepath.Join(d, "evil.txt")); err == nil {
			t.Errorf("evil.txt was written to %s", d)
		}
	}
}

// gitServer serves bare repositories under root with the real git
// http-backend over CGI, requiring HTTP basic auth with password token.
func gitServer(t *testing.T, root, token string) *httptest.Server {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// http-backend allows receive-pack for an authenticated user.
		r.Header.Set("X-Remote-User", user)
		h := *backend
		h.Env = append(h.Env, "REMOTE_USER="+user)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPushToHTTPBackend(t *testing.T) {
	s, dir := newService(t)
	ctx := t.Context()
	v := edit(t, s, "p", "index.html", "<h1>pushed</h1>\n")

	root := t.TempDir()
	if out, err := exec.Command("git", "init", "--bare", "--quiet", filepath.Join(root, "site.git")).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	const token = "ghp_secret-token"
	srv := gitServer(t, root, token)
	url := srv.URL + "/site.git"

	if err := s.Push(ctx, "p"); !errors.Is(err, version.ErrNoRemote) {
		t.Fatalf("Push without a remote: err = %v, want ErrNoRemote", err)
	}
	if _, err := s.SetRemote(ctx, "p", "http://example.com/x.git", ""); err == nil {
		t.Errorf("SetRemote(plain http to another host) succeeded; want refused")
	}
	if _, err := s.SetRemote(ctx, "p", url, "wrong-token"); err != nil {
		t.Fatal(err)
	}
	err := s.Push(ctx, "p")
	pe, ok := errors.AsType[*version.PushError](err)
	if !ok || !strings.Contains(pe.Msg, "refused the credentials") {
		t.Fatalf("Push with a wrong token: err = %v; want a PushError about credentials", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("the push error shows the token: %v", err)
	}

	rm, err := s.SetRemote(ctx, "p", url, token)
	if err != nil || !rm.HasToken {
		t.Fatalf("SetRemote = %+v, %v", rm, err)
	}
	if err := s.Push(ctx, "p"); err != nil {
		t.Fatalf("Push: %v", err)
	}
	got, err := exec.Command("git", "--git-dir", filepath.Join(root, "site.git"), "rev-parse", "refs/heads/main").Output()
	if err != nil || strings.TrimSpace(string(got)) != v.ID {
		t.Errorf("remote main = %q (%v), want %s", got, err, v.ID)
	}
	// The token is kept out of the repository's config, in a file only the
	// server can read.
	repoCfg, err := os.ReadFile(filepath.Join(dir, "p", "repo.git", "config"))
	if err != nil || strings.Contains(string(repoCfg), token) {
		t.Errorf("repository config holds the token (or cannot be read: %v)", err)
	}
	st, err := os.Stat(filepath.Join(dir, "p", "remote.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("remote.json mode %v; want 0600", st.Mode().Perm())
	}
}
