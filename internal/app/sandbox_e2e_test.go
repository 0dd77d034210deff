package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

type sandboxOut struct {
	ID, ProjectID, Engine, State string
	Processes                    []string
	StoppedAt                    *time.Time
	Usage                        struct {
		MemoryBytes int64
		CPUSeconds  float64
		PIDs        int
		DiskBytes   int64
		Source      string
	}
}

type logsOut struct {
	State string
	Lines []struct {
		Seq          int64
		Stream, Line string
	}
}

func getSandbox(t *testing.T, s *server, token, id string) sandboxOut {
	t.Helper()
	code, _, body := request(t, s, token, http.MethodGet, "/api/sandboxes/"+id, nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET sandbox %s = %d %s", id, code, body)
	}
	var out sandboxOut
	mustDecode(t, body, &out)
	return out
}

// poll retries cond every 100 ms for up to limit.
func poll(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// terminal dials the sandbox terminal WebSocket with a bearer token and,
// if origin is set, an Origin header.
func dialTerminal(t *testing.T, s *server, token, id, origin string, cols, rows int) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	if origin != "" {
		h.Set("Origin", origin)
	}
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sandboxes/" + id + "/terminal?cols=" + strconv.Itoa(cols) + "&rows=" + strconv.Itoa(rows)
	return websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPHeader: h})
}

// readTerm reads binary frames until the output contains want.
func readTerm(t *testing.T, ws *websocket.Conn, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var out strings.Builder
	for !strings.Contains(out.String(), want) {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v; terminal so far: %q", want, err, out.String())
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("terminal sent a %v frame", typ)
		}
		out.Write(b)
	}
	return out.String()
}

func typeTerm(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.Write(t.Context(), websocket.MessageBinary, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxEndpointsTerminalLogsAndWake(t *testing.T) {
	model := pageModel(t)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	owner, _ := member(t, s, "alice@example.com", false)
	other, _ := member(t, s, "bob@example.com", false)
	p, err := owner.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, id := runPrompt(t, owner, p.ID, "hello sandbox")

	// The dev server's output came as log events during the run.
	var logEvents []string
	for _, e := range collect(t, owner, runID, 0) {
		if e.Type == "log" {
			var d struct{ Stream, Line string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			logEvents = append(logEvents, d.Stream+": "+d.Line)
		}
	}
	if len(logEvents) == 0 || !strings.Contains(strings.Join(logEvents, "\n"), "stdout: qv-serve: serving") {
		t.Errorf("log events of the run = %q; want the dev server's start line", logEvents)
	}

	// Listing and usage.
	sb := getSandbox(t, s, owner.Token, id)
	if sb.State != "running" || sb.ProjectID != p.ID || sb.Engine != "bwrap" || len(sb.Processes) != 1 || sb.Processes[0] != "devserver" {
		t.Errorf("sandbox = %+v", sb)
	}
	if sb.Usage.PIDs < 2 || sb.Usage.MemoryBytes <= 0 || sb.Usage.DiskBytes <= 0 || sb.Usage.Source == "" {
		t.Errorf("usage of a running sandbox = %+v; want pids >= 2 (toolbox, dev server), memory, disk", sb.Usage)
	}
	t.Logf("usage: %+v", sb.Usage)
	for _, c := range []struct {
		token string
		want  int
	}{{owner.Token, 1}, {other.Token, 0}} {
		code, _, body := request(t, s, c.token, http.MethodGet, "/api/sandboxes", nil, nil)
		var list struct{ Sandboxes []sandboxOut }
		mustDecode(t, body, &list)
		if code != http.StatusOK || len(list.Sandboxes) != c.want {
			t.Errorf("GET /api/sandboxes = %d with %d sandboxes, want %d", code, len(list.Sandboxes), c.want)
		}
	}

	// Another user gets 404 everywhere, the terminal included.
	for _, r := range [][2]string{{"GET", ""}, {"POST", "/stop"}, {"POST", "/start"}, {"DELETE", ""}, {"GET", "/logs"}, {"GET", "/terminal"}} {
		if code, _, body := request(t, s, other.Token, r[0], "/api/sandboxes/"+id+r[1], nil, nil); code != http.StatusNotFound {
			t.Errorf("%s %s as another user = %d %s, want 404", r[0], r[1], code, body)
		}
	}
	if _, resp, err := dialTerminal(t, s, other.Token, id, "", 80, 24); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("terminal WebSocket as another user: %v, want 404", err)
	}
	// A page of another origin cannot open the owner's terminal.
	if _, resp, err := dialTerminal(t, s, owner.Token, id, "http://evil.example", 80, 24); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("terminal WebSocket from another origin: %v, want 403", err)
	}

	// The terminal: a shell in the workspace, resizable.
	ws, _, err := dialTerminal(t, s, owner.Token, id, s.app.Config().PublicURL.String(), 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	typeTerm(t, ws, "ls; stty size; echo TERM=$TERM\n")
	out := readTerm(t, ws, "TERM=xterm-256color")
	if !strings.Contains(out, "index.html") || !strings.Contains(out, "24 80") {
		t.Errorf("terminal output %q lacks index.html or 24 80", out)
	}
	if err := ws.Write(t.Context(), websocket.MessageText, []byte(`{"type":"resize","cols":120,"rows":40}`)); err != nil {
		t.Fatal(err)
	}
	typeTerm(t, ws, "stty size\n")
	readTerm(t, ws, "40 120")

	// Dev server crash: it is restarted, and the logs say so.
	typeTerm(t, ws, `for p in /proc/[0-9]*; do case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in "qv-serve "*) kill -9 ${p#/proc/};; esac; done; echo KILL''ED`+"\n")
	readTerm(t, ws, "KILLED")
	ws.Close(websocket.StatusNormalClosure, "")
	var logs logsOut
	poll(t, "the dev server to be restarted", 20*time.Second, func() bool {
		code, _, body := request(t, s, owner.Token, http.MethodGet, "/api/sandboxes/"+id+"/logs", nil, nil)
		if code != http.StatusOK {
			t.Fatalf("logs = %d %s", code, body)
		}
		mustDecode(t, body, &logs)
		var killed, restarted, serving int
		for _, l := range logs.Lines {
			switch {
			case l.Stream == "system" && strings.HasPrefix(l.Line, "exited with code 137; restarting"):
				killed++
			case l.Stream == "system" && l.Line == "restarted":
				restarted++
			case l.Stream == "stdout" && strings.HasPrefix(l.Line, "qv-serve: serving"):
				serving++
			}
		}
		ok := killed == 1 && restarted == 1 && serving == 2
		if !ok {
			t.Logf("logs so far: %+v", logs.Lines)
		}
		return ok
	})
	// The same lines as Server-Sent Events, resumable by Last-Event-ID.
	last := logs.Lines[len(logs.Lines)-1]
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/sandboxes/"+id+"/logs", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+owner.Token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(last.Seq-1, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var frame []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" && len(frame) > 0 {
			break // the end of the first event
		}
		if line != "" && !strings.HasPrefix(line, "retry:") && !strings.HasPrefix(line, ":") {
			frame = append(frame, line)
		}
	}
	resp.Body.Close()
	cancel()
	wantFrame := []string{"id: " + strconv.FormatInt(last.Seq, 10), "event: log"}
	if len(frame) != 3 || frame[0] != wantFrame[0] || frame[1] != wantFrame[1] || !strings.Contains(frame[2], `"line":`+strconv.Quote(last.Line)) {
		t.Errorf("first SSE frame after Last-Event-ID %d = %q; want %q and the line %q", last.Seq-1, frame, wantFrame, last.Line)
	}

	previewURL := s.app.Config().PreviewURL(id, 3000)
	poll(t, "the preview to answer again", 20*time.Second, func() bool {
		code, body := getPreview(t, s, previewURL)
		return code == http.StatusOK && strings.Contains(body, "hello sandbox")
	})

	// Stop keeps the workspace; the preview wakes the sandbox.
	if code, _, body := request(t, s, owner.Token, http.MethodPost, "/api/sandboxes/"+id+"/stop", nil, nil); code != http.StatusOK || !strings.Contains(body, `"state":"stopped"`) {
		t.Fatalf("stop = %d %s", code, body)
	}
	sb = getSandbox(t, s, owner.Token, id)
	if sb.StoppedAt == nil || sb.Usage.DiskBytes <= 0 || sb.Usage.PIDs != 0 {
		t.Errorf("stopped sandbox = %+v", sb)
	}
	if code, _, _ := request(t, s, owner.Token, http.MethodGet, "/api/sandboxes/"+id+"/terminal", nil, nil); code != http.StatusConflict {
		t.Errorf("terminal of a stopped sandbox = %d, want 409", code)
	}
	code, body := getPreview(t, s, previewURL)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "Starting…") || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("preview of a stopped sandbox = %d %q; want the auto-refreshing starting page", code, body)
	}
	poll(t, "the woken preview to answer", 30*time.Second, func() bool {
		code, body := getPreview(t, s, previewURL)
		if code != http.StatusOK && !strings.Contains(body, "Starting…") {
			t.Fatalf("preview while waking = %d %q; want the starting page until it answers", code, body)
		}
		return code == http.StatusOK && strings.Contains(body, "hello sandbox")
	})
	if sb := getSandbox(t, s, owner.Token, id); sb.State != "running" || sb.StoppedAt != nil {
		t.Errorf("woken sandbox = %+v", sb)
	}

	// Stop and start through the API, then delete.
	if code, _, body := request(t, s, owner.Token, http.MethodPost, "/api/sandboxes/"+id+"/stop", nil, nil); code != http.StatusOK {
		t.Fatalf("stop = %d %s", code, body)
	}
	if code, _, body := request(t, s, owner.Token, http.MethodPost, "/api/sandboxes/"+id+"/start", nil, nil); code != http.StatusOK || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("start = %d %s", code, body)
	}
	if code, _, body := request(t, s, owner.Token, http.MethodDelete, "/api/sandboxes/"+id, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete = %d %s", code, body)
	}
	if code, _, _ := request(t, s, owner.Token, http.MethodGet, "/api/sandboxes/"+id, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET after delete = %d, want 404", code)
	}
}

// descendants lists the live processes below pid (zombies count as gone).
func descendants(t *testing.T, root int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0] != "Z"
}

// kill -9 of the real server process: its sandboxes die with it (nothing
// orphaned), the workspace stays, and the restarted server corrects the
// store, removes the stale socket, and the project carries on.
func TestKill9ServerLeavesNoOrphanSandboxes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quickvibe")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../cmd/quickvibe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	model := pageModel(t)
	dataDir := t.TempDir()
	s, proc := startProcess(t, bin, dataDir, model.URL())
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	_, id := runPrompt(t, api, p.ID, "before the crash")
	if sb := getSandbox(t, s, api.Token, id); sb.State != "running" {
		t.Fatalf("sandbox before the crash = %+v", sb)
	}
	procs := descendants(t, proc.Process.Pid)
	// bwrap, its pid 1, the toolbox, the dev server's shell and qv-serve.
	if len(procs) < 3 {
		t.Fatalf("server's sandbox processes = %v; want the sandbox's tree", procs)
	}

	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc.Wait()
	poll(t, "every sandbox process to die with the server", 10*time.Second, func() bool {
		for _, pid := range procs {
			if alive(pid) {
				return false
			}
		}
		return true
	})

	sbDir := filepath.Join(dataDir, "sandboxes", id)
	if b, err := os.ReadFile(filepath.Join(sbDir, "workspace", "index.html")); err != nil || !strings.Contains(string(b), "before the crash") {
		t.Fatalf("workspace after kill -9: %q, %v", b, err)
	}

	s, proc = startProcess(t, bin, dataDir, model.URL())
	api = client.New(s.url, api.Token)
	sb := getSandbox(t, s, api.Token, id)
	if sb.State != "stopped" || sb.StoppedAt == nil {
		t.Errorf("sandbox after restart = %+v; want the store corrected to stopped", sb)
	}
	if _, err := os.Lstat(filepath.Join(sbDir, "toolbox.sock")); !os.IsNotExist(err) {
		t.Errorf("stale toolbox socket after restart: %v", err)
	}
	if procs := descendants(t, proc.Process.Pid); len(procs) != 0 {
		t.Errorf("restarted server runs %v before anything asked for a sandbox", procs)
	}

	// The project is usable: the next prompt resumes the same sandbox.
	_, again := runPrompt(t, api, p.ID, "after the crash")
	if again != id {
		t.Errorf("the next run used sandbox %s, want the resumed %s", again, id)
	}
	files, err := api.File(t.Context(), p.ID, "index.html")
	if err != nil || !strings.Contains(string(files), "after the crash") {
		t.Errorf("index.html after the next run = %q, %v", files, err)
	}
}
