package daytonatest_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

// startServer serves a page with body on port through a session command,
// and waits until the port is in use.
func startServer(t *testing.T, s *daytonatest.Server, sb sandboxDTO, port int, body string) {
	t.Helper()
	dir := fmt.Sprintf("site%d", port)
	r := upload(t, s, sb, [][2]string{{"files[0].path", dir + "/index.html"}, {"files[0].file", body}})
	wantStatus(t, "upload page", r, http.StatusOK)
	sid := fmt.Sprintf("web%d", port)
	wantStatus(t, "create session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": sid}), http.StatusCreated)
	r = tb(t, s, sb, "POST", "/process/session/"+sid+"/exec", map[string]any{
		"command": fmt.Sprintf("qv-serve --port %d --dir %s", port, dir), "runAsync": true,
	})
	wantStatus(t, "start server", r, http.StatusAccepted)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := tb(t, s, sb, "GET", fmt.Sprintf("/port/%d/in-use", port), nil)
		if strings.Contains(string(r.body), "true") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d never in use: %s", port, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCommand polls the command until it has an exit code.
func waitCommand(t *testing.T, s *daytonatest.Server, sb sandboxDTO, sid, cid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := tb(t, s, sb, "GET", "/process/session/"+sid+"/command/"+cid, nil)
		wantStatus(t, "command", r, http.StatusOK)
		m := r.obj(t)
		if _, ok := m["exitCode"]; ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("command never exited: %s", r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSessions(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, map[string]any{"env": map[string]string{"FROM_CREATE": "yes"}})
	r := tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "dev"})
	wantStatus(t, "create session", r, http.StatusCreated)
	if len(r.body) != 0 {
		t.Errorf("create session body = %q, want empty", r.body)
	}
	wantStatus(t, "duplicate session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "dev"}), http.StatusConflict)
	wantStatus(t, "entrypoint exec", tb(t, s, sb, "POST", "/process/session/entrypoint/exec", map[string]any{"command": "true"}), http.StatusBadRequest)
	wantStatus(t, "unknown session", tb(t, s, sb, "POST", "/process/session/nope/exec", map[string]any{"command": "true"}), http.StatusNotFound)

	// Sync: 200 with the exit code and demuxed streams.
	r = tb(t, s, sb, "POST", "/process/session/dev/exec", map[string]any{"command": "echo $FROM_CREATE; echo oops >&2; exit 3"})
	wantStatus(t, "sync exec", r, http.StatusOK)
	m := r.obj(t)
	if m["exitCode"] != 3.0 || m["stdout"] != "yes\n" || m["stderr"] != "oops\n" || m["cmdId"] == "" {
		t.Errorf("sync exec = %s", r.body)
	}

	// Async: 202 {cmdId}, exitCode absent while running.
	r = tb(t, s, sb, "POST", "/process/session/dev/exec", map[string]any{"command": "sleep 1; echo done; exit 2", "runAsync": true})
	wantStatus(t, "async exec", r, http.StatusAccepted)
	cid, _ := r.obj(t)["cmdId"].(string)
	if cid == "" {
		t.Fatalf("async exec = %s", r.body)
	}
	r = tb(t, s, sb, "GET", "/process/session/dev/command/"+cid, nil)
	if _, ok := r.obj(t)["exitCode"]; ok {
		t.Errorf("running command has an exitCode: %s", r.body)
	}
	if got := waitCommand(t, s, sb, "dev", cid); got["exitCode"] != 2.0 || got["command"] != "sleep 1; echo done; exit 2" {
		t.Errorf("finished command = %v", got)
	}

	r = tb(t, s, sb, "GET", "/process/session/dev", nil)
	var sess struct {
		SessionID string `json:"sessionId"`
		Commands  []struct {
			ID       string   `json:"id"`
			ExitCode *float64 `json:"exitCode"`
		} `json:"commands"`
	}
	r.json(t, &sess)
	if sess.SessionID != "dev" || len(sess.Commands) != 2 || sess.Commands[1].ID != cid {
		t.Errorf("session = %s", r.body)
	}
	wantStatus(t, "list", tb(t, s, sb, "GET", "/process/session", nil), http.StatusOK)
}

func TestSessionLogFormats(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	wantStatus(t, "session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "s"}), http.StatusCreated)
	r := tb(t, s, sb, "POST", "/process/session/s/exec", map[string]any{"command": "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2", "runAsync": true})
	cid := r.obj(t)["cmdId"].(string)
	waitCommand(t, s, sb, "s", cid)
	logs := sb.ToolboxProxyURL + "/" + sb.ID + "/process/session/s/command/" + cid + "/logs"

	// SDK >= 0.167.0: JSON, output raw with markers.
	r = call(t, s, "GET", logs, nil, nil)
	wantStatus(t, "logs", r, http.StatusOK)
	var got map[string]string
	r.json(t, &got)
	want := map[string]string{
		"output": "\x01\x01\x01out1\n\x02\x02\x02err1\n\x01\x01\x01out2\n",
		"stdout": "out1\nout2\n",
		"stderr": "err1\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON logs (-want +got):\n%s", diff)
	}
	// An older SDK: plain text with markers.
	r = call(t, s, "GET", logs, nil, http.Header{"X-Daytona-SDK-Version": {"0.100.0"}})
	if diff := cmp.Diff(want["output"], string(r.body)); diff != "" {
		t.Errorf("split logs (-want +got):\n%s", diff)
	}
	// No version: combined, markers stripped.
	r = call(t, s, "GET", logs, nil, http.Header{"X-Daytona-SDK-Version": {""}})
	if diff := cmp.Diff("out1\nerr1\nout2\n", string(r.body)); diff != "" {
		t.Errorf("combined logs (-want +got):\n%s", diff)
	}
}

func TestSessionLogStream(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	wantStatus(t, "session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "s"}), http.StatusCreated)
	auth := http.Header{"Authorization": {"Bearer " + daytonatest.DefaultAPIKey}}
	tests := []struct {
		name         string
		header       http.Header
		subprotocols []string
		want         string
	}{
		{"sdk version header", http.Header{"X-Daytona-SDK-Version": {sdkVersion}}, nil, "\x01\x01\x01a\n\x02\x02\x02b\n"},
		{"sdk version subprotocol", nil, []string{"X-Daytona-SDK-Version~" + sdkVersion}, "\x01\x01\x01a\n\x02\x02\x02b\n"},
		{"no version: markers stripped", nil, nil, "a\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb(t, s, sb, "POST", "/process/session/s/exec", map[string]any{"command": "echo a; sleep 0.5; echo b >&2; sleep 0.5; exit 5", "runAsync": true})
			cid := r.obj(t)["cmdId"].(string)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			h := auth.Clone()
			for k, v := range tt.header {
				h[k] = v
			}
			u := strings.Replace(sb.ToolboxProxyURL, "http://", "ws://", 1) + "/" + sb.ID + "/process/session/s/command/" + cid + "/logs?follow=true"
			ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.Client(), HTTPHeader: h, Subprotocols: tt.subprotocols})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			if len(tt.subprotocols) > 0 && resp.Header.Get("Sec-WebSocket-Protocol") != tt.subprotocols[0] {
				t.Errorf("subprotocol = %q, want it echoed", resp.Header.Get("Sec-WebSocket-Protocol"))
			}
			var frames []string
			for {
				typ, data, err := ws.Read(ctx)
				if err != nil {
					if st := websocket.CloseStatus(err); st != websocket.StatusNormalClosure {
						t.Fatalf("stream ended with %v, want a normal close", err)
					}
					break
				}
				if typ != websocket.MessageBinary {
					t.Errorf("frame type %v, want binary", typ)
				}
				frames = append(frames, string(data))
			}
			if diff := cmp.Diff(tt.want, strings.Join(frames, "")); diff != "" {
				t.Errorf("streamed log (-want +got):\n%s", diff)
			}
			if len(frames) < 2 {
				t.Errorf("%d frames, want the lines as they came", len(frames))
			}
			if got := waitCommand(t, s, sb, "s", cid); got["exitCode"] != 5.0 {
				t.Errorf("exit code = %v", got["exitCode"])
			}
		})
	}
}

func TestDeleteSessionKillsCommands(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	wantStatus(t, "session", tb(t, s, sb, "POST", "/process/session", map[string]any{"sessionId": "s"}), http.StatusCreated)
	wantStatus(t, "exec", tb(t, s, sb, "POST", "/process/session/s/exec", map[string]any{"command": "sleep 300", "runAsync": true}), http.StatusAccepted)
	count := map[string]any{"command": `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f"; echo; done 2>/dev/null | grep -c '^sleep 300' || true`}
	// The command may run as more than one process (a shell and its
	// child), so only "some" before and "none" after count.
	if r := tb(t, s, sb, "POST", "/process/execute", count); r.obj(t)["result"] == "0\n" {
		t.Fatalf("sleep not running: %s", r.body)
	}
	wantStatus(t, "delete", tb(t, s, sb, "DELETE", "/process/session/s", nil), http.StatusNoContent)
	if r := tb(t, s, sb, "POST", "/process/execute", count); r.obj(t)["result"] != "0\n" {
		t.Errorf("sleep survived its session: %s", r.body)
	}
	wantStatus(t, "deleted session", tb(t, s, sb, "GET", "/process/session/s", nil), http.StatusNotFound)
}
