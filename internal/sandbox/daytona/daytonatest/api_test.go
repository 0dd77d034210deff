package daytonatest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

func TestAuthAndErrorShape(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	tests := []struct {
		name string
		auth string
	}{
		{"no key", ""},
		{"wrong key", "Bearer dtn_wrong"},
		{"not bearer", "Basic " + daytonatest.DefaultAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "GET", s.APIURL()+"/sandbox", nil, http.Header{"Authorization": {tt.auth}})
			wantStatus(t, "GET /sandbox", r, http.StatusUnauthorized)
			m := r.obj(t)
			for _, k := range []string{"path", "timestamp", "statusCode", "error", "message"} {
				if _, ok := m[k]; !ok {
					t.Errorf("NestJS error body lacks %q: %s", k, r.body)
				}
			}
			if m["path"] != "/api/sandbox" || m["statusCode"] != float64(401) || m["error"] != "Unauthorized" {
				t.Errorf("error body = %s", r.body)
			}
		})
	}
	if r := api(t, s, "GET", "/sandbox", nil); r.status != http.StatusOK {
		t.Errorf("with the key: %d %s", r.status, r.body)
	}
}

func TestCreateSandboxShape(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	r := api(t, s, "POST", "/sandbox", map[string]any{
		"name": "app-1", "snapshot": "daytona-small", "labels": map[string]string{"quickvibe.project": "p1"},
		"env": map[string]string{"GREETING": "hello there"}, "public": false,
		"autoStopInterval": 30, "autoArchiveInterval": 60, "autoDeleteInterval": -1,
	})
	wantStatus(t, "POST /sandbox", r, http.StatusOK)
	m := r.obj(t)
	for _, k := range []string{"id", "organizationId", "name", "user", "env", "labels", "public", "networkBlockAll", "target", "cpu", "gpu", "memory", "disk", "toolboxProxyUrl"} {
		if _, ok := m[k]; !ok {
			t.Errorf("Sandbox lacks required %q", k)
		}
	}
	for _, k := range []string{"cpu", "gpu", "memory", "disk", "autoStopInterval", "autoArchiveInterval", "autoDeleteInterval"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("%s = %#v, want a JSON number", k, m[k])
		}
	}
	want := map[string]any{"name": "app-1", "cpu": 1.0, "memory": 1.0, "disk": 3.0, "autoStopInterval": 30.0, "autoArchiveInterval": 60.0, "autoDeleteInterval": -1.0, "public": false}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	// ServerWait 0: the answer comes at once, before started.
	if m["state"] != "creating" {
		t.Errorf("state = %v, want creating (ServerWait 0)", m["state"])
	}
	tbURL, _ := m["toolboxProxyUrl"].(string)
	if u, err := url.Parse(tbURL); err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/toolbox" {
		t.Errorf("toolboxProxyUrl = %q, want http://127.0.0.1:P/toolbox", tbURL)
	}
	id := m["id"].(string)
	sb := waitState(t, s, id, "started")

	// By name too, and the env reaches commands.
	if r := api(t, s, "GET", "/sandbox/app-1", nil); r.status != http.StatusOK || r.obj(t)["id"] != id {
		t.Errorf("GET by name: %d %s", r.status, r.body)
	}
	r = tb(t, s, sb, "POST", "/process/execute", map[string]any{"command": "echo $GREETING"})
	if r.status != http.StatusOK || r.obj(t)["result"] != "hello there\n" {
		t.Errorf("env in execute: %d %s", r.status, r.body)
	}
}

func TestCreateSandboxErrors(t *testing.T) {
	s := newFake(t, daytonatest.Options{Snapshots: []string{"daytona-small", "qv-node"}})
	createStarted(t, s, map[string]any{"name": "taken"})
	tests := []struct {
		name    string
		body    map[string]any
		status  int
		message string
	}{
		{"duplicate name", map[string]any{"name": "taken"}, http.StatusConflict, "Sandbox with name taken already exists"},
		{"resources with snapshot", map[string]any{"snapshot": "qv-node", "cpu": 2}, http.StatusBadRequest, "Cannot specify Sandbox resources when using a snapshot"},
		{"build info with snapshot", map[string]any{"snapshot": "qv-node", "buildInfo": map[string]any{"dockerfileContent": "FROM node:22\n"}}, http.StatusBadRequest, "Cannot specify a snapshot when using a build info entry"},
		{"unknown snapshot", map[string]any{"snapshot": "nope"}, http.StatusBadRequest, "Snapshot nope not found. Did you add it through the Daytona Dashboard?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api(t, s, "POST", "/sandbox", tt.body)
			wantStatus(t, "POST /sandbox", r, tt.status)
			if msg, _ := r.obj(t)["message"].(string); !strings.HasPrefix(msg, tt.message) {
				t.Errorf("message = %q, want %q", msg, tt.message)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	s := newFake(t, daytonatest.Options{ServerWait: 30 * time.Second})
	r := api(t, s, "POST", "/sandbox", map[string]any{})
	wantStatus(t, "POST /sandbox", r, http.StatusOK)
	var sb sandboxDTO
	r.json(t, &sb)
	if sb.State != "started" {
		t.Fatalf("with ServerWait the create answers started, got %q", sb.State)
	}
	token := s.PreviewToken(sb.ID)
	if token == "" {
		t.Fatal("no preview token")
	}

	r = api(t, s, "POST", "/sandbox/"+sb.ID+"/archive", nil)
	wantStatus(t, "archive while started", r, http.StatusBadRequest)

	r = api(t, s, "POST", "/sandbox/"+sb.ID+"/stop", nil)
	wantStatus(t, "stop", r, http.StatusOK)
	if st := r.obj(t)["state"]; st != "stopping" {
		t.Errorf("stop answered state %v, want stopping", st)
	}
	waitState(t, s, sb.ID, "stopped")
	wantStatus(t, "toolbox while stopped", tb(t, s, sb, "GET", "/work-dir", nil), http.StatusBadRequest)

	r = api(t, s, "POST", "/sandbox/"+sb.ID+"/archive", nil)
	wantStatus(t, "archive", r, http.StatusOK)
	waitState(t, s, sb.ID, "archived")

	// Starting from archived answers at once; the client polls.
	r = api(t, s, "POST", "/sandbox/"+sb.ID+"/start", nil)
	wantStatus(t, "start from archived", r, http.StatusOK)
	if st := r.obj(t)["state"]; st != "restoring" {
		t.Errorf("start from archived answered %v, want restoring", st)
	}
	waitState(t, s, sb.ID, "started")
	if s.PreviewToken(sb.ID) == token {
		t.Error("the preview token did not change on restart")
	}
	wantStatus(t, "toolbox after restart", tb(t, s, sb, "GET", "/work-dir", nil), http.StatusOK)

	r = api(t, s, "DELETE", "/sandbox/"+sb.ID, nil)
	wantStatus(t, "delete", r, http.StatusOK)
	if st := r.obj(t)["state"]; st != "destroying" {
		t.Errorf("delete answered %v, want destroying", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for api(t, s, "GET", "/sandbox/"+sb.ID, nil).status != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("deleted sandbox never answered 404")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r = api(t, s, "GET", "/sandbox/"+sb.ID, nil)
	if m := r.obj(t); m["statusCode"] != float64(404) || m["error"] != "Not Found" {
		t.Errorf("404 body = %s", r.body)
	}
}

func TestStartDelayAndServerWait(t *testing.T) {
	s := newFake(t, daytonatest.Options{StartDelay: 700 * time.Millisecond, ServerWait: 100 * time.Millisecond})
	start := time.Now()
	r := api(t, s, "POST", "/sandbox", map[string]any{})
	wantStatus(t, "POST /sandbox", r, http.StatusOK)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("create answered after %s, want it to wait ServerWait", d)
	}
	var sb sandboxDTO
	r.json(t, &sb)
	if sb.State != "creating" {
		t.Errorf("state after ServerWait < StartDelay = %q, want creating", sb.State)
	}
	waitState(t, s, sb.ID, "started")
}

func TestFailNextStart(t *testing.T) {
	t.Run("create without server wait", func(t *testing.T) {
		s := newFake(t, daytonatest.Options{})
		s.FailNextStart("build_failed", "image pull failed")
		r := api(t, s, "POST", "/sandbox", map[string]any{})
		wantStatus(t, "POST /sandbox", r, http.StatusOK)
		var sb sandboxDTO
		r.json(t, &sb)
		got := waitState(t, s, sb.ID, "build_failed")
		if got.ErrorReason != "image pull failed" {
			t.Errorf("errorReason = %q", got.ErrorReason)
		}
		// Only the next start fails.
		createStarted(t, s, nil)
	})
	t.Run("create with server wait", func(t *testing.T) {
		s := newFake(t, daytonatest.Options{ServerWait: 30 * time.Second})
		s.FailNextStart("error", "no capacity")
		r := api(t, s, "POST", "/sandbox", map[string]any{"name": "doomed"})
		wantStatus(t, "POST /sandbox", r, http.StatusBadRequest)
		if msg := r.obj(t)["message"]; msg != "Sandbox failed to start: no capacity" {
			t.Errorf("message = %v", msg)
		}
		// recoverable: /recover brings it up.
		r = api(t, s, "GET", "/sandbox/doomed", nil)
		if m := r.obj(t); m["state"] != "error" || m["recoverable"] != true {
			t.Fatalf("after a failed start: %s", r.body)
		}
		r = api(t, s, "POST", "/sandbox/doomed/recover", nil)
		wantStatus(t, "recover", r, http.StatusOK)
		waitState(t, s, "doomed", "started")
	})
	t.Run("start", func(t *testing.T) {
		s := newFake(t, daytonatest.Options{})
		sb := createStarted(t, s, nil)
		wantStatus(t, "stop", api(t, s, "POST", "/sandbox/"+sb.ID+"/stop", nil), http.StatusOK)
		waitState(t, s, sb.ID, "stopped")
		s.FailNextStart("error", "disk gone")
		wantStatus(t, "start", api(t, s, "POST", "/sandbox/"+sb.ID+"/start", nil), http.StatusOK)
		if got := waitState(t, s, sb.ID, "error"); got.ErrorReason != "disk gone" {
			t.Errorf("errorReason = %q", got.ErrorReason)
		}
	})
}

func TestSetState(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	s.SetState(sb.ID, "archived")
	if got := waitState(t, s, sb.ID, "archived"); got.State != "archived" {
		t.Fatal(got)
	}
	wantStatus(t, "toolbox of an archived sandbox", tb(t, s, sb, "GET", "/version", nil), http.StatusBadRequest)
	wantStatus(t, "start archived", api(t, s, "POST", "/sandbox/"+sb.ID+"/start", nil), http.StatusOK)
	waitState(t, s, sb.ID, "started")
	s.SetState(sb.ID, "destroyed")
	wantStatus(t, "GET destroyed", api(t, s, "GET", "/sandbox/"+sb.ID, nil), http.StatusNotFound)
}

func TestSettings(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, map[string]any{"labels": map[string]string{"a": "1"}})
	for _, p := range []string{"autostop/0", "autoarchive/120", "autodelete/-1"} {
		wantStatus(t, p, api(t, s, "POST", "/sandbox/"+sb.ID+"/"+p, nil), http.StatusOK)
	}
	m := api(t, s, "GET", "/sandbox/"+sb.ID, nil).obj(t)
	if m["autoStopInterval"] != 0.0 || m["autoArchiveInterval"] != 120.0 || m["autoDeleteInterval"] != -1.0 {
		t.Errorf("intervals = %v %v %v", m["autoStopInterval"], m["autoArchiveInterval"], m["autoDeleteInterval"])
	}
	wantStatus(t, "autostop/x", api(t, s, "POST", "/sandbox/"+sb.ID+"/autostop/x", nil), http.StatusBadRequest)
	wantStatus(t, "last-activity", api(t, s, "POST", "/sandbox/"+sb.ID+"/last-activity", nil), http.StatusCreated)

	r := api(t, s, "PUT", "/sandbox/"+sb.ID+"/labels", map[string]any{"labels": map[string]string{"b": "2"}})
	wantStatus(t, "PUT labels", r, http.StatusOK)
	if diff := cmp.Diff(`{"labels":{"b":"2"}}`, strings.TrimSpace(string(r.body))); diff != "" {
		t.Errorf("PUT labels body (-want +got):\n%s", diff)
	}
	var got sandboxDTO
	api(t, s, "GET", "/sandbox/"+sb.ID, nil).json(t, &got)
	if diff := cmp.Diff(map[string]string{"b": "2"}, got.Labels); diff != "" {
		t.Errorf("labels replaced (-want +got):\n%s", diff)
	}
}

func TestList(t *testing.T) {
	s := newFake(t, daytonatest.Options{PageSize: 2})
	var mine []string
	for i := range 5 {
		labels := map[string]string{"owner": "me"}
		if i == 2 {
			labels = map[string]string{"owner": "other"}
		}
		r := api(t, s, "POST", "/sandbox", map[string]any{"labels": labels})
		wantStatus(t, "create", r, http.StatusOK)
		if i != 2 {
			mine = append(mine, r.obj(t)["id"].(string))
		}
		time.Sleep(2 * time.Millisecond) // distinct createdAt
	}
	filter := url.QueryEscape(`{"owner":"me"}`)
	var got []string
	cursor := ""
	pages := 0
	for {
		path := "/sandbox?labels=" + filter + "&limit=50"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := api(t, s, "GET", path, nil)
		wantStatus(t, "list", r, http.StatusOK)
		var page struct {
			Items      []sandboxDTO `json:"items"`
			NextCursor *string      `json:"nextCursor"`
		}
		r.json(t, &page)
		if !strings.Contains(string(r.body), `"nextCursor":`) {
			t.Errorf("page lacks nextCursor: %s", r.body)
		}
		if len(page.Items) > 2 {
			t.Errorf("page of %d items, want at most PageSize 2", len(page.Items))
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
			if it.ToolboxProxyURL == "" || it.State == "" {
				t.Errorf("list item lacks toolboxProxyUrl or state: %+v", it)
			}
		}
		pages++
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if diff := cmp.Diff(mine, got); diff != "" {
		t.Errorf("listed ids, oldest first (-want +got):\n%s", diff)
	}
	if pages != 2 {
		t.Errorf("%d pages, want 2", pages)
	}
	wantStatus(t, "bad labels", api(t, s, "GET", "/sandbox?labels=notjson", nil), http.StatusBadRequest)
	wantStatus(t, "bad limit", api(t, s, "GET", "/sandbox?limit=0", nil), http.StatusBadRequest)

	t.Run("array shape", func(t *testing.T) {
		s := newFake(t, daytonatest.Options{ListShape: "array"})
		a := createStarted(t, s, map[string]any{"labels": map[string]string{"k": "v"}})
		createStarted(t, s, nil)
		r := api(t, s, "GET", "/sandbox?labels="+url.QueryEscape(`{"k":"v"}`), nil)
		wantStatus(t, "list", r, http.StatusOK)
		var items []sandboxDTO
		r.json(t, &items)
		if len(items) != 1 || items[0].ID != a.ID {
			t.Errorf("array list = %s", r.body)
		}
	})
}

func TestSnapshotsAndConfig(t *testing.T) {
	s := newFake(t, daytonatest.Options{Snapshots: []string{"qv-node"}})
	r := api(t, s, "GET", "/snapshots/qv-node", nil)
	wantStatus(t, "known snapshot", r, http.StatusOK)
	if m := r.obj(t); m["name"] != "qv-node" || m["id"] != "qv-node" || m["state"] != "active" {
		t.Errorf("snapshot = %s", r.body)
	}
	wantStatus(t, "unknown snapshot", api(t, s, "GET", "/snapshots/daytona-small", nil), http.StatusNotFound)
	// The default snapshot is the first known one.
	r = api(t, s, "POST", "/sandbox", map[string]any{})
	if m := r.obj(t); m["snapshot"] != "qv-node" {
		t.Errorf("default snapshot = %v", m["snapshot"])
	}
	r = api(t, s, "GET", "/config", nil)
	wantStatus(t, "config", r, http.StatusOK)
	var cfg map[string]any
	if err := json.Unmarshal(r.body, &cfg); err != nil || cfg["defaultSnapshot"] != "qv-node" || cfg["proxyToolboxUrl"] == "" {
		t.Errorf("config = %s", r.body)
	}
}

func TestRateLimitHeadersAndFaults(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	r := api(t, s, "POST", "/sandbox", map[string]any{})
	wantStatus(t, "create", r, http.StatusOK)
	for _, h := range []string{"X-RateLimit-Limit-sandbox-create", "X-RateLimit-Remaining-sandbox-create", "X-RateLimit-Reset-sandbox-create", "X-RateLimit-Limit-authenticated"} {
		if r.header.Get(h) == "" {
			t.Errorf("create lacks %s", h)
		}
	}
	if r.header.Get("X-RateLimit-Limit-sandbox-create") != "300" {
		t.Errorf("sandbox-create limit = %q, want 300", r.header.Get("X-RateLimit-Limit-sandbox-create"))
	}

	s.Inject(daytonatest.Fault{Method: "POST", Path: "/sandbox", Status: http.StatusTooManyRequests, Times: 2,
		Header: http.Header{"Retry-After-Sandbox-Create": {"7"}}})
	for i := range 2 {
		r := api(t, s, "POST", "/sandbox", map[string]any{})
		wantStatus(t, "throttled create", r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After-sandbox-create") != "7" || r.header.Get("X-RateLimit-Remaining-sandbox-create") != "0" {
			t.Errorf("429 #%d headers: %v", i, r.header)
		}
		if m := r.obj(t); m["message"] != "Rate limit exceeded" || m["statusCode"] != 429.0 {
			t.Errorf("429 body = %s", r.body)
		}
	}
	wantStatus(t, "create after the fault", api(t, s, "POST", "/sandbox", map[string]any{}), http.StatusOK)

	// Without its own header a 429 still names the throttler to wait for.
	s.Inject(daytonatest.Fault{Path: "/sandbox", Status: http.StatusTooManyRequests})
	r = api(t, s, "POST", "/sandbox/x/stop", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After-sandbox-lifecycle") == "" {
		t.Errorf("lifecycle 429: %d %v", r.status, r.header)
	}

	// A method filter leaves other methods alone; messages are kept.
	s.Inject(daytonatest.Fault{Method: "GET", Path: "/sandbox", Status: http.StatusServiceUnavailable, Message: "runner unavailable"})
	wantStatus(t, "POST unaffected", api(t, s, "POST", "/sandbox", map[string]any{}), http.StatusOK)
	r = api(t, s, "GET", "/sandbox", nil)
	if r.status != http.StatusServiceUnavailable || r.obj(t)["message"] != "runner unavailable" {
		t.Errorf("injected 503 = %d %s", r.status, r.body)
	}
	wantStatus(t, "GET after the fault", api(t, s, "GET", "/sandbox", nil), http.StatusOK)
}

func TestRequestsRecordAuth(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	api(t, s, "GET", "/sandbox", nil)
	reqs := s.Requests()
	i := slices.IndexFunc(reqs, func(r daytonatest.Request) bool { return r.Path == "/api/sandbox" && r.Method == "GET" })
	if i < 0 {
		t.Fatalf("GET /api/sandbox not recorded: %+v", reqs)
	}
	if got := reqs[i].Header.Get("Authorization"); got != "Bearer "+daytonatest.DefaultAPIKey {
		t.Errorf("recorded Authorization = %q", got)
	}
	// The copy is the caller's.
	reqs[i].Header.Set("Authorization", "changed")
	if s.Requests()[i].Header.Get("Authorization") == "changed" {
		t.Error("Requests shares headers with the fake")
	}
}

func TestCreateFromBuildInfo(t *testing.T) {
	// Even with ServerWait, a build answers at once.
	s := newFake(t, daytonatest.Options{ServerWait: 30 * time.Second, StartDelay: 300 * time.Millisecond})
	r := api(t, s, "POST", "/sandbox", map[string]any{"buildInfo": map[string]any{"dockerfileContent": "FROM node:22\n"}, "cpu": 2, "memory": 4})
	wantStatus(t, "POST /sandbox", r, http.StatusOK)
	m := r.obj(t)
	if m["state"] != "pending_build" || m["cpu"] != 2.0 || m["memory"] != 4.0 {
		t.Errorf("build create = %s", r.body)
	}
	if _, ok := m["snapshot"]; ok {
		t.Errorf("build create names a snapshot: %s", r.body)
	}
	waitState(t, s, m["id"].(string), "started")
	wantStatus(t, "empty dockerfile", api(t, s, "POST", "/sandbox", map[string]any{"buildInfo": map[string]any{}}), http.StatusBadRequest)
}
