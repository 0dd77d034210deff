package toolbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Terminal protocol, the same on the toolbox socket and on the browser's
// WebSocket (GET /api/sandboxes/{id}/terminal): binary messages carry raw
// terminal bytes both ways; a text message {"type":"resize","cols":N,"rows":N}
// resizes; closing the socket ends the session.

// ResizeMessage is the one control message of the terminal protocol.
type ResizeMessage struct {
	Type string `json:"type"` // "resize"
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

// ParseResize decodes a text message of the terminal protocol.
func ParseResize(data []byte) (cols, rows int, err error) {
	var m ResizeMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, 0, fmt.Errorf("invalid control message: %w", err)
	}
	if m.Type != "resize" {
		return 0, 0, fmt.Errorf("unknown control message type %q", m.Type)
	}
	if err := checkSize(m.Cols, m.Rows); err != nil {
		return 0, 0, err
	}
	return m.Cols, m.Rows, nil
}

func checkSize(cols, rows int) error {
	if cols < 1 || cols > 1000 || rows < 1 || rows > 1000 {
		return fmt.Errorf("terminal size %dx%d out of range (1-1000)", cols, rows)
	}
	return nil
}

// hangupGrace is how long a shell gets after SIGHUP before its session is
// killed.
const hangupGrace = 2 * time.Second

// ptySession is one shell on a pseudo-terminal.
type ptySession struct {
	cmd  *exec.Cmd
	pty  *os.File
	done chan struct{} // closed once the shell is reaped
}

// hangup ends the session the way closing a terminal window does: SIGHUP
// to the shell's process group (bash passes it on to its jobs), then
// SIGKILL if it is still there after a grace period.
func (t *ptySession) hangup() {
	pid := t.cmd.Process.Pid
	select {
	case <-t.done:
		return
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGHUP)
	t.pty.Close()
	select {
	case <-t.done:
	case <-time.After(hangupGrace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func (s *Server) closeTerminals() {
	s.mu.Lock()
	terms := make([]*ptySession, 0, len(s.terms))
	for t := range s.terms {
		terms = append(terms, t)
	}
	s.mu.Unlock()
	for _, t := range terms {
		t.hangup()
	}
}

// shell is bash if the image has it, else sh.
func shell() string {
	if _, err := os.Stat("/bin/bash"); err == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}

// handleTerminal is GET /v1/terminal?cols=N&rows=N: a WebSocket carrying
// a shell on a pseudo-terminal in the workspace.
func (s *Server) handleTerminal(w http.ResponseWriter, r *http.Request) {
	cols, err1 := strconv.Atoi(r.URL.Query().Get("cols"))
	rows, err2 := strconv.Atoi(r.URL.Query().Get("rows"))
	if err1 != nil || err2 != nil {
		cols, rows = 80, 24
	}
	if err := checkSize(cols, rows); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Only the host reaches this socket; browsers never do, so there is
	// no origin to check here (the host checks the browser's).
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)

	cmd := exec.Command(shell(), "-i")
	cmd.Dir = s.dir
	cmd.Env = s.env
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		ws.Close(websocket.StatusInternalError, "start shell: "+err.Error())
		return
	}
	t := &ptySession{cmd: cmd, pty: f, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		f.Close()
		ws.Close(websocket.StatusGoingAway, "toolbox is shutting down")
		return
	}
	s.terms[t] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.terms, t)
		s.mu.Unlock()
		s.wg.Done()
	}()
	s.log.Info("terminal opened", "pid", cmd.Process.Pid, "cols", cols, "rows", rows)

	go func() {
		_ = cmd.Wait()
		close(t.done)
	}()

	ctx := r.Context()
	readerDone := make(chan struct{})
	inputDone := make(chan struct{})
	// Shell output → socket, until everything holding the pty is gone.
	go func() {
		defer close(readerDone)
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// Socket → shell input and resizes, until the socket closes.
	go func() {
		defer close(inputDone)
		for {
			typ, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			switch typ {
			case websocket.MessageBinary:
				if _, err := f.Write(data); err != nil {
					return
				}
			case websocket.MessageText:
				c, r, err := ParseResize(data)
				if err != nil {
					s.log.Info("terminal: bad control message", "err", err)
					continue
				}
				if err := setSize(f, c, r); err != nil {
					s.log.Warn("terminal resize", "err", err)
				}
			}
		}
	}()
	select {
	case <-inputDone:
		// The client closed the socket: that ends the session.
	case <-readerDone:
		ws.Close(websocket.StatusNormalClosure, "shell exited")
	case <-t.done:
		// The shell exited; let its last output through, unless a
		// background job keeps the pty open.
		select {
		case <-readerDone:
		case <-time.After(500 * time.Millisecond):
		}
		ws.Close(websocket.StatusNormalClosure, "shell exited")
	}
	t.hangup()
	ws.CloseNow()
	<-readerDone
	<-inputDone
	f.Close()
	s.log.Info("terminal closed", "pid", cmd.Process.Pid)
}

// setSize resizes the terminal through the file's raw connection: unlike
// pty.Setsize it does not call f.Fd(), which must not run while another
// goroutine reads f.
func setSize(f *os.File, cols, rows int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
	})
	if err != nil {
		return err
	}
	return ierr
}
