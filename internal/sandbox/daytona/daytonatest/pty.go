package daytonatest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// ptySession is a Daytona PTY session over a backend terminal. A pump
// copies the terminal's output into a channel that one connected
// WebSocket drains.
type ptySession struct {
	id         string
	cols, rows int
	createdAt  time.Time

	mu     sync.Mutex
	term   sandbox.Terminal
	killed bool
	// out carries terminal output; it is closed when the terminal ends,
	// after which exitErr says how.
	out     chan []byte
	exitErr error
	active  bool // a client is connected
}

func (s *Server) ptyRoutes(handle func(string, toolboxFunc)) {
	handle("POST /process/pty", s.createPty)
	handle("GET /process/pty", s.listPty)
	handle("GET /process/pty/{id}", s.withPty(func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, p *ptySession) {
		writeJSON(w, http.StatusOK, p.info())
	}))
	handle("DELETE /process/pty/{id}", s.withPty(s.deletePty))
	handle("POST /process/pty/{id}/resize", s.withPty(s.resizePty))
	handle("GET /process/pty/{id}/connect", s.withPty(s.connectPty))
}

func (sb *fakeSandbox) ptyList() []*ptySession {
	sb.ptyMu.Lock()
	defer sb.ptyMu.Unlock()
	out := make([]*ptySession, 0, len(sb.ptys))
	for _, p := range sb.ptys {
		out = append(out, p)
	}
	return out
}

func (p *ptySession) info() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return map[string]any{
		"id": p.id, "cwd": WorkDir, "envs": map[string]string{}, "cols": p.cols, "rows": p.rows,
		"createdAt": p.createdAt.Format(time.RFC3339), "active": p.active, "lazyStart": false,
	}
}

func (s *Server) createPty(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	var req struct {
		ID   string `json:"id"`
		Cols int    `json:"cols"`
		Rows int    `json:"rows"`
	}
	if err := decodeBody(r, &req); err != nil || req.ID == "" {
		daemonError(w, r, http.StatusBadRequest, "id is required")
		return
	}
	if req.Cols == 0 {
		req.Cols = 80
	}
	if req.Rows == 0 {
		req.Rows = 24
	}
	if req.Cols < 1 || req.Cols > 1000 || req.Rows < 1 || req.Rows > 1000 {
		daemonError(w, r, http.StatusBadRequest, "cols and rows must be between 1 and 1000")
		return
	}
	sb.ptyMu.Lock()
	_, dup := sb.ptys[req.ID]
	sb.ptyMu.Unlock()
	if dup {
		daemonError(w, r, http.StatusConflict, "PTY session with ID "+req.ID+" already exists")
		return
	}
	term, err := s.opts.Backend.OpenTerminal(s.ctx, sb.backendID, req.Cols, req.Rows)
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, "start PTY: "+err.Error())
		return
	}
	p := &ptySession{id: req.ID, cols: req.Cols, rows: req.Rows, createdAt: time.Now().UTC(), term: term, out: make(chan []byte, 256)}
	sb.ptyMu.Lock()
	sb.ptys[req.ID] = p
	sb.ptyMu.Unlock()
	s.goBackground(func(ctx context.Context) { p.pump(ctx) })
	writeJSON(w, http.StatusCreated, map[string]string{"sessionId": req.ID})
}

// pump copies terminal output until the terminal ends.
func (p *ptySession) pump(ctx context.Context) {
	defer close(p.out)
	for {
		b, err := p.term.Output(ctx)
		if len(b) > 0 {
			select {
			case p.out <- b:
			case <-ctx.Done():
				p.setExit(ctx.Err())
				return
			}
		}
		if err != nil {
			p.setExit(err)
			return
		}
	}
}

func (p *ptySession) setExit(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		err = errKilled
	}
	p.exitErr = err
}

var errKilled = errors.New("SIGKILL")

// kill ends the terminal.
func (p *ptySession) kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	_ = p.term.Close()
}

func (s *Server) listPty(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	sessions := []map[string]any{}
	for _, p := range sb.ptyList() {
		sessions = append(sessions, p.info())
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": sessions})
}

func (s *Server) withPty(h func(http.ResponseWriter, *http.Request, *fakeSandbox, *ptySession)) toolboxFunc {
	return func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		sb.ptyMu.Lock()
		p := sb.ptys[r.PathValue("id")]
		sb.ptyMu.Unlock()
		if p == nil {
			daemonError(w, r, http.StatusNotFound, "PTY session not found")
			return
		}
		h(w, r, sb, p)
	}
}

func (s *Server) deletePty(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, p *ptySession) {
	sb.ptyMu.Lock()
	delete(sb.ptys, p.id)
	sb.ptyMu.Unlock()
	p.kill()
	writeJSON(w, http.StatusOK, map[string]string{"message": "PTY session " + p.id + " deleted"})
}

func (s *Server) resizePty(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, p *ptySession) {
	var req struct {
		Cols int `json:"cols"`
		Rows int `json:"rows"`
	}
	if err := decodeBody(r, &req); err != nil || req.Cols < 1 || req.Cols > 1000 || req.Rows < 1 || req.Rows > 1000 {
		daemonError(w, r, http.StatusBadRequest, "cols and rows must be between 1 and 1000")
		return
	}
	if err := p.term.Resize(r.Context(), req.Cols, req.Rows); err != nil {
		daemonError(w, r, http.StatusInternalServerError, "resize: "+err.Error())
		return
	}
	p.mu.Lock()
	p.cols, p.rows = req.Cols, req.Rows
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, p.info())
}

// ptyClose is the close reason the daemon sends when the PTY ends.
type ptyClose struct {
	ExitCode   int    `json:"exitCode"`
	ExitReason string `json:"exitReason,omitempty"`
}

// connectPty is the PTY WebSocket: a control frame first, then binary
// output; client frames are input. When the terminal ends the socket
// closes with 1000 (exit 0) or 1011 and a JSON reason. The backend
// terminal reports no exit code, so a shell that exits is reported as
// exit 0, and a deleted session as SIGKILL.
func (s *Server) connectPty(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, p *ptySession) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	p.mu.Lock()
	if p.active {
		p.mu.Unlock()
		_ = ws.Write(r.Context(), websocket.MessageText, []byte(`{"type":"control","status":"error","error":"PTY session already has a client"}`))
		ws.Close(websocket.StatusPolicyViolation, "PTY session already has a client")
		return
	}
	p.active = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.active = false
		p.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"control","status":"connected"}`)); err != nil {
		return
	}
	// Client frames, text or binary, are keystrokes.
	go func() {
		defer cancel()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if err := p.term.Input(ctx, data); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case b, ok := <-p.out:
			if !ok {
				p.mu.Lock()
				exitErr := p.exitErr
				p.mu.Unlock()
				code, reason := websocket.StatusNormalClosure, ptyClose{ExitCode: 0}
				switch {
				case errors.Is(exitErr, errKilled):
					code, reason = websocket.StatusInternalError, ptyClose{ExitCode: -1, ExitReason: "SIGKILL"}
				case exitErr != nil && !errors.Is(exitErr, io.EOF):
					code, reason = websocket.StatusInternalError, ptyClose{ExitCode: -1, ExitReason: exitErr.Error()}
				}
				msg, _ := json.Marshal(reason)
				ws.Close(code, string(msg))
				return
			}
			if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
