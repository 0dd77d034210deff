package daytona

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// OpenTerminal implements sandbox.Provider with a toolbox PTY session:
// POST /process/pty creates it, its /connect WebSocket carries the bytes
// (a control frame first), and its close frame says the shell ended.
func (p *Provider) OpenTerminal(ctx context.Context, id string, cols, rows int) (sandbox.Terminal, error) {
	if err := checkSize(cols, rows); err != nil {
		return nil, err
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return nil, err
	}
	in := map[string]any{
		"id":   "qv-term-" + strings.ToLower(rand.Text()),
		"cwd":  b.workDir + "/" + p.workspace,
		"cols": cols,
		"rows": rows,
		"envs": map[string]string{"TERM": "xterm-256color"},
	}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := p.tbJSON(ctx, id, call{method: http.MethodPost, path: "/process/pty"}, in, &created); err != nil {
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	t := &terminal{p: p, sandboxID: id, session: created.SessionID}
	u := toWebSocketURL(b.url) + t.path() + "/connect"
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: p.hc, HTTPHeader: p.authHeader()})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.kill()
		return nil, fmt.Errorf("open terminal: connect: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	t.ws = ws
	if err := t.awaitConnected(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	return t, nil
}

func checkSize(cols, rows int) error {
	if cols < 1 || cols > 1000 || rows < 1 || rows > 1000 {
		return fmt.Errorf("terminal size %dx%d out of range (1-1000)", cols, rows)
	}
	return nil
}

type terminal struct {
	p         *Provider
	sandboxID string
	session   string
	ws        *websocket.Conn
	closeOnce sync.Once
	closeErr  error
}

func (t *terminal) path() string { return "/process/pty/" + url.PathEscape(t.session) }

type controlFrame struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// awaitConnected reads the control frame the toolbox sends first.
func (t *terminal) awaitConnected(ctx context.Context) error {
	typ, data, err := t.ws.Read(ctx)
	if err != nil {
		return fmt.Errorf("wait for the terminal to connect: %w", err)
	}
	var c controlFrame
	if typ != websocket.MessageText || json.Unmarshal(data, &c) != nil || c.Type != "control" {
		return fmt.Errorf("terminal sent %q before its control frame", truncate(string(data), 80))
	}
	if c.Status != "connected" {
		return fmt.Errorf("terminal did not connect: %s %s", c.Status, c.Error)
	}
	return nil
}

// Output implements sandbox.Terminal. The toolbox closes the socket when
// the shell exits (1000 for status 0, 1011 otherwise); either is io.EOF.
func (t *terminal) Output(ctx context.Context) ([]byte, error) {
	for {
		typ, data, err := t.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		if typ == websocket.MessageBinary {
			return data, nil
		}
		var c controlFrame
		if json.Unmarshal(data, &c) == nil && c.Type == "control" && c.Status == "error" {
			return nil, fmt.Errorf("terminal: %s", c.Error)
		}
	}
}

// Input implements sandbox.Terminal.
func (t *terminal) Input(ctx context.Context, p []byte) error {
	return t.ws.Write(ctx, websocket.MessageBinary, p)
}

// Resize implements sandbox.Terminal.
func (t *terminal) Resize(ctx context.Context, cols, rows int) error {
	if err := checkSize(cols, rows); err != nil {
		return err
	}
	c := call{method: http.MethodPost, path: t.path() + "/resize"}
	if err := t.p.tbJSON(ctx, t.sandboxID, c, map[string]int{"cols": cols, "rows": rows}, nil); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}

// Close implements sandbox.Terminal: it deletes the PTY session, which
// ends the shell, and closes the socket.
func (t *terminal) Close() error {
	t.closeOnce.Do(func() {
		t.closeErr = t.kill()
		if t.ws != nil {
			t.ws.CloseNow()
		}
	})
	return t.closeErr
}

func (t *terminal) kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, _, err := t.p.tb(ctx, t.sandboxID, call{method: http.MethodDelete, path: t.path()})
	if err != nil && !errors.Is(err, sandbox.ErrNotFound) && !errors.Is(err, sandbox.ErrNotRunning) {
		return fmt.Errorf("close terminal: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
