package daytonatest_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

func TestToolboxAuth(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	base := sb.ToolboxProxyURL + "/" + sb.ID + "/work-dir"
	token := s.PreviewToken(sb.ID)
	tests := []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"api key", base, nil, http.StatusOK},
		{"preview token header", base, http.Header{"Authorization": {""}, "X-Daytona-Preview-Token": {token}}, http.StatusOK},
		{"preview token query", base + "?DAYTONA_SANDBOX_AUTH_KEY=" + token, http.Header{"Authorization": {""}}, http.StatusOK},
		{"nothing", base, http.Header{"Authorization": {""}}, http.StatusUnauthorized},
		{"wrong token", base, http.Header{"Authorization": {""}, "X-Daytona-Preview-Token": {"nope"}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "GET", tt.url, nil, tt.header)
			wantStatus(t, "GET /work-dir", r, tt.status)
			if tt.status != http.StatusOK {
				m := r.obj(t)
				for _, k := range []string{"statusCode", "message", "code", "timestamp", "path", "method"} {
					if _, ok := m[k]; !ok {
						t.Errorf("daemon error lacks %q: %s", k, r.body)
					}
				}
				if m["path"] != "/work-dir" || m["method"] != "GET" {
					t.Errorf("daemon error = %s", r.body)
				}
				return
			}
			if got := r.obj(t)["dir"]; got != "/workspace" {
				t.Errorf("work dir = %v", got)
			}
		})
	}
	wantStatus(t, "unknown sandbox", call(t, s, "GET", sb.ToolboxProxyURL+"/nope/version", nil, nil), http.StatusNotFound)
}

func TestExecute(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	wantStatus(t, "mkdir", tb(t, s, sb, "POST", "/files/folder?path=sub&mode=0755", nil), http.StatusCreated)
	tests := []struct {
		name   string
		req    map[string]any
		status int
		want   map[string]any
	}{
		{"combined output", map[string]any{"command": "echo out; echo err >&2; exit 3"}, 200, map[string]any{"exitCode": 3.0, "result": "out\nerr\n"}},
		{"default cwd is the work dir", map[string]any{"command": "pwd"}, 200, map[string]any{"exitCode": 0.0, "result": "/workspace\n"}},
		{"cwd relative", map[string]any{"command": "pwd", "cwd": "sub"}, 200, map[string]any{"exitCode": 0.0, "result": "/workspace/sub\n"}},
		{"cwd absolute", map[string]any{"command": "pwd", "cwd": "/workspace/sub"}, 200, map[string]any{"exitCode": 0.0, "result": "/workspace/sub\n"}},
		{"envs", map[string]any{"command": "echo \"$A-$B\"", "envs": map[string]string{"A": "x y", "B": "it's"}}, 200, map[string]any{"exitCode": 0.0, "result": "x y-it's\n"}},
		{"timeout", map[string]any{"command": "sleep 30", "timeout": 1}, http.StatusRequestTimeout, nil},
		{"cwd outside the work dir", map[string]any{"command": "pwd", "cwd": "/etc"}, http.StatusBadRequest, nil},
		{"no command", map[string]any{}, http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb(t, s, sb, "POST", "/process/execute", tt.req)
			wantStatus(t, "execute", r, tt.status)
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, r.obj(t)); diff != "" {
					t.Errorf("execute (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	wantStatus(t, "port 80", tb(t, s, sb, "GET", "/port/80/in-use", nil), http.StatusBadRequest)
	wantStatus(t, "port 10000", tb(t, s, sb, "GET", "/port/10000/in-use", nil), http.StatusBadRequest)
	if r := tb(t, s, sb, "GET", "/port/3000/in-use", nil); string(bytes.TrimSpace(r.body)) != `{"isInUse":false}` {
		t.Errorf("idle port: %d %s", r.status, r.body)
	}
	startServer(t, s, sb, 3000, "hello")
	if r := tb(t, s, sb, "GET", "/port/3000/in-use", nil); string(bytes.TrimSpace(r.body)) != `{"isInUse":true}` {
		t.Errorf("listening port: %d %s", r.status, r.body)
	}
}

// upload sends a bulk upload with parts in the given order.
func upload(t *testing.T, s *daytonatest.Server, sb sandboxDTO, parts [][2]string) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		if strings.HasSuffix(p[0], ".file") {
			w, err := mw.CreateFormFile(p[0], "blob")
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(p[1]))
		} else if err := mw.WriteField(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return call(t, s, "POST", sb.ToolboxProxyURL+"/"+sb.ID+"/files/bulk-upload", body.Bytes(),
		http.Header{"Content-Type": {mw.FormDataContentType()}})
}

func TestFiles(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)

	r := upload(t, s, sb, [][2]string{
		{"files[0].path", "/workspace/app/src/index.html"}, {"files[0].file", "<h1>hi</h1>"},
		{"files[1].path", "notes.txt"}, {"files[1].file", "n"},
	})
	wantStatus(t, "bulk-upload", r, http.StatusOK)
	if diff := cmp.Diff(`{"files":[{"path":"/workspace/app/src/index.html","bytes":11},{"path":"notes.txt","bytes":1}]}`, string(bytes.TrimSpace(r.body))); diff != "" {
		t.Errorf("bulk-upload answer (-want +got):\n%s", diff)
	}
	r = upload(t, s, sb, [][2]string{{"files[0].file", "x"}, {"files[0].path", "late.txt"}})
	wantStatus(t, "file part before its path", r, http.StatusBadRequest)
	r = upload(t, s, sb, [][2]string{{"files[0].path", "/etc/passwd"}, {"files[0].file", "x"}})
	wantStatus(t, "upload outside the work dir", r, http.StatusBadRequest)

	r = tb(t, s, sb, "GET", "/files/download?path="+url.QueryEscape("/workspace/app/src/index.html"), nil)
	wantStatus(t, "download", r, http.StatusOK)
	if string(r.body) != "<h1>hi</h1>" || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download = %q (%s)", r.body, r.header.Get("Content-Type"))
	}
	wantStatus(t, "download missing", tb(t, s, sb, "GET", "/files/download?path=missing", nil), http.StatusNotFound)
	wantStatus(t, "download dir", tb(t, s, sb, "GET", "/files/download?path=app", nil), http.StatusBadRequest)

	var list []struct {
		Name  string `json:"name"`
		IsDir bool   `json:"isDir"`
		Size  int64  `json:"size"`
	}
	r = tb(t, s, sb, "GET", "/files?path=/workspace", nil)
	wantStatus(t, "list", r, http.StatusOK)
	r.json(t, &list)
	var names []string
	for _, f := range list {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"app", "notes.txt"}, names); diff != "" {
		t.Errorf("GET /files lists direct children (-want +got):\n%s", diff)
	}

	r = tb(t, s, sb, "GET", "/files/info?path=app/src/index.html", nil)
	wantStatus(t, "info", r, http.StatusOK)
	info := r.obj(t)
	if info["name"] != "index.html" || info["size"] != 11.0 || info["isDir"] != false || info["modifiedAt"] == "" {
		t.Errorf("info = %s", r.body)
	}
	wantStatus(t, "info missing", tb(t, s, sb, "GET", "/files/info?path=nope", nil), http.StatusNotFound)

	wantStatus(t, "move", tb(t, s, sb, "POST", "/files/move?source=notes.txt&destination=app/notes.md", nil), http.StatusOK)
	if r := tb(t, s, sb, "GET", "/files/download?path=app/notes.md", nil); string(r.body) != "n" {
		t.Errorf("moved file = %d %q", r.status, r.body)
	}
	wantStatus(t, "moved away", tb(t, s, sb, "GET", "/files/download?path=notes.txt", nil), http.StatusNotFound)

	wantStatus(t, "delete dir without recursive", tb(t, s, sb, "DELETE", "/files?path=app", nil), http.StatusBadRequest)
	wantStatus(t, "delete file", tb(t, s, sb, "DELETE", "/files?path=app/notes.md", nil), http.StatusNoContent)
	wantStatus(t, "delete dir", tb(t, s, sb, "DELETE", "/files?path=app&recursive=true", nil), http.StatusNoContent)
	wantStatus(t, "delete missing", tb(t, s, sb, "DELETE", "/files?path=app", nil), http.StatusNotFound)
	wantStatus(t, "escape", tb(t, s, sb, "GET", "/files/download?path=../etc/passwd", nil), http.StatusBadRequest)

	wantStatus(t, "folder", tb(t, s, sb, "POST", "/files/folder?path=/workspace/a/b&mode=0755", nil), http.StatusCreated)
	r = tb(t, s, sb, "GET", "/files/info?path=/workspace/a/b", nil)
	if r.status != http.StatusOK || r.obj(t)["isDir"] != true {
		t.Errorf("created folder: %d %s", r.status, r.body)
	}
	r = tb(t, s, sb, "GET", "/files?path=a/b", nil)
	if string(bytes.TrimSpace(r.body)) != "[]" {
		t.Errorf("new folder is not empty: %s", r.body)
	}
}

func TestToolboxFaults(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	s.Inject(daytonatest.Fault{Path: "/files", Status: http.StatusInternalServerError, Message: "disk on fire", Times: 1})
	r := tb(t, s, sb, "GET", "/files?path=.", nil)
	wantStatus(t, "faulted", r, http.StatusInternalServerError)
	if m := r.obj(t); m["message"] != "disk on fire" || m["path"] != "/files" || m["code"] == nil {
		t.Errorf("daemon fault body = %s", r.body)
	}
	wantStatus(t, "other paths", tb(t, s, sb, "GET", "/version", nil), http.StatusOK)
	wantStatus(t, "after the fault", tb(t, s, sb, "GET", "/files?path=.", nil), http.StatusOK)
}
