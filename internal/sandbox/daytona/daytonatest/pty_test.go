package daytonatest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

// connectPty opens the PTY WebSocket and checks the control frame.
func connectPty(t *testing.T, ctx context.Context, s *daytonatest.Server, sb sandboxDTO, id string) *websocket.Conn {
	t.Helper()
	u := strings.Replace(sb.ToolboxProxyURL, "http://", "ws://", 1) + "/" + sb.ID + "/process/pty/" + id + "/connect"
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient: s.Client(),
		HTTPHeader: http.Header{"Authorization": {"Bearer " + daytonatest.DefaultAPIKey}},
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	typ, data, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(data) != `{"type":"control","status":"connected"}` {
		t.Fatalf("first frame = %v %q %v, want the connected control frame", typ, data, err)
	}
	return ws
}

// readUntil reads binary frames until the output holds want.
func readUntil(t *testing.T, ctx context.Context, ws *websocket.Conn, want string) {
	t.Helper()
	var out strings.Builder
	for !strings.Contains(out.String(), want) {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading for %q: %v; got %q", want, err, out.String())
		}
		if typ != websocket.MessageBinary {
			t.Errorf("output frame type %v, want binary", typ)
		}
		out.Write(data)
	}
}

func TestPty(t *testing.T) {
	s := newFake(t, daytonatest.Options{})
	sb := createStarted(t, s, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	r := tb(t, s, sb, "POST", "/process/pty", map[string]any{"id": "t1", "cols": 80, "rows": 24})
	wantStatus(t, "create pty", r, http.StatusCreated)
	if r.obj(t)["sessionId"] != "t1" {
		t.Errorf("create pty = %s", r.body)
	}
	wantStatus(t, "duplicate pty", tb(t, s, sb, "POST", "/process/pty", map[string]any{"id": "t1"}), http.StatusConflict)
	wantStatus(t, "no id", tb(t, s, sb, "POST", "/process/pty", map[string]any{}), http.StatusBadRequest)

	ws := connectPty(t, ctx, s, sb, "t1")
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("echo hi-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, ws, "hi-42")

	wantStatus(t, "resize 0", tb(t, s, sb, "POST", "/process/pty/t1/resize", map[string]any{"cols": 0, "rows": 30}), http.StatusBadRequest)
	r = tb(t, s, sb, "POST", "/process/pty/t1/resize", map[string]any{"cols": 100, "rows": 30})
	wantStatus(t, "resize", r, http.StatusOK)
	// Text frames are input too.
	if err := ws.Write(ctx, websocket.MessageText, []byte("stty size | tr ' ' x\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, ws, "30x100")

	r = tb(t, s, sb, "GET", "/process/pty", nil)
	if !strings.Contains(string(r.body), `"id":"t1"`) || !strings.Contains(string(r.body), `"active":true`) {
		t.Errorf("pty list = %s", r.body)
	}

	if err := ws.Write(ctx, websocket.MessageBinary, []byte("exit\n")); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != `{"exitCode":0}` {
			t.Errorf("after exit: %v, want close 1000 with reason {\"exitCode\":0}", err)
		}
		break
	}

	t.Run("delete kills", func(t *testing.T) {
		wantStatus(t, "create", tb(t, s, sb, "POST", "/process/pty", map[string]any{"id": "t2"}), http.StatusCreated)
		ws := connectPty(t, ctx, s, sb, "t2")
		wantStatus(t, "delete", tb(t, s, sb, "DELETE", "/process/pty/t2", nil), http.StatusOK)
		for {
			_, _, err := ws.Read(ctx)
			if err == nil {
				continue
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusInternalError || !strings.Contains(ce.Reason, `"exitReason":"SIGKILL"`) {
				t.Errorf("after delete: %v, want close 1011 with a SIGKILL reason", err)
			}
			break
		}
		wantStatus(t, "gone", tb(t, s, sb, "GET", "/process/pty/t2", nil), http.StatusNotFound)
	})
}
