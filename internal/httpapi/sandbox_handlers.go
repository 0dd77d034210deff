package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/lifecycle"
	"github.com/quickvibe/quickvibe/internal/store"
)

type usageJSON struct {
	MemoryBytes int64   `json:"memoryBytes"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	PIDs        int     `json:"pids"`
	DiskBytes   int64   `json:"diskBytes"`
	// Source says where memory, CPU and pids were read: "cgroup" or
	// "procfs" or "cgroup+procfs"; empty while the sandbox is stopped.
	Source string `json:"source,omitempty"`
}

type sandboxJSON struct {
	ID           string     `json:"id"`
	ProjectID    string     `json:"projectId"`
	Engine       string     `json:"engine"`
	State        string     `json:"state"`
	Processes    []string   `json:"processes"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastActiveAt time.Time  `json:"lastActiveAt"`
	StoppedAt    *time.Time `json:"stoppedAt,omitempty"`
	Usage        usageJSON  `json:"usage"`
}

func toSandboxJSON(sb lifecycle.Sandbox) sandboxJSON {
	out := sandboxJSON{
		ID: sb.ID, ProjectID: sb.ProjectID, Engine: sb.Engine, State: sb.State,
		Processes: make([]string, 0, len(sb.Processes)),
		CreatedAt: sb.CreatedAt, LastActiveAt: sb.LastActiveAt,
		Usage: usageJSON{
			MemoryBytes: sb.Usage.MemoryBytes, CPUSeconds: sb.Usage.CPUTime.Seconds(),
			PIDs: sb.Usage.PIDs, DiskBytes: sb.Usage.DiskBytes, Source: sb.Usage.Source,
		},
	}
	for _, p := range sb.Processes {
		out.Processes = append(out.Processes, p.Name)
	}
	if !sb.StoppedAt.IsZero() && sb.State != string(sandbox.StateRunning) {
		out.StoppedAt = &sb.StoppedAt
	}
	return out
}

// ownedSandbox loads the sandbox named in the path if the caller owns it;
// anyone else's is "not found".
func (s *Server) ownedSandbox(r *http.Request) (store.Sandbox, error) {
	sb, err := s.Lifecycle.Lookup(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.Sandbox{}, err
	}
	if u := currentUser(r.Context()); u.ID == "" || sb.UserID != u.ID {
		return store.Sandbox{}, errNotFound
	}
	return sb, nil
}

func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) error {
	sbs, err := s.Lifecycle.ForUser(r.Context(), currentUser(r.Context()).ID)
	if err != nil {
		return err
	}
	out := make([]sandboxJSON, 0, len(sbs))
	for _, sb := range sbs {
		out = append(out, toSandboxJSON(sb))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sandboxes": out})
	return nil
}

func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request) error {
	return s.changeSandbox(w, r, nil)
}

func (s *Server) startSandbox(w http.ResponseWriter, r *http.Request) error {
	return s.changeSandbox(w, r, s.Lifecycle.Start)
}

func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request) error {
	return s.changeSandbox(w, r, s.Lifecycle.Stop)
}

// changeSandbox applies change (if any) to the caller's sandbox and answers
// with its description.
func (s *Server) changeSandbox(w http.ResponseWriter, r *http.Request, change func(context.Context, string) error) error {
	sb, err := s.ownedSandbox(r)
	if err != nil {
		return err
	}
	if change != nil {
		if err := change(r.Context(), sb.ID); err != nil {
			return err
		}
	}
	d, err := s.Lifecycle.Describe(r.Context(), sb.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSandboxJSON(d))
	return nil
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.ownedSandbox(r)
	if err != nil {
		return err
	}
	if err := s.Lifecycle.Delete(r.Context(), sb.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logLineJSON is one dev server output line: the data of a `log` event
// plus its position.
type logLineJSON struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
}

const defaultLogTail = 500

// sandboxLogs is GET /api/sandboxes/{id}/logs[?process=devserver&after=SEQ&limit=N].
// As JSON: {"state", "lines": [...]}, the kept lines after SEQ (the last
// `limit`, default 500). With Accept: text/event-stream: `log` events
// (id = seq) of the kept lines and then of new ones as they come;
// Last-Event-ID resumes.
func (s *Server) sandboxLogs(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.ownedSandbox(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := sandbox.LogsRequest{Name: cmp.Or(q.Get("process"), "devserver")}
	req.After, err = lastEventID(r)
	if err != nil {
		return err
	}
	req.Limit = defaultLogTail
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("limit must be a non-negative number of lines")
		}
		req.Limit = n
	}
	if !wantsEventStream(r) {
		lines := []logLineJSON{}
		if sb.State == string(sandbox.StateRunning) {
			err := s.Lifecycle.ProcessLogs(r.Context(), sb.ID, req, func(l sandbox.LogLine) error {
				lines = append(lines, logLineJSON(l))
				return nil
			})
			if err != nil && !errors.Is(err, sandbox.ErrNoProcess) {
				return err
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"state": sb.State, "process": req.Name, "lines": lines})
		return nil
	}
	if sb.State != string(sandbox.StateRunning) {
		return sandbox.ErrNotRunning
	}
	req.Follow = true
	err = s.serveSSE(w, r, func(ctx context.Context, sw *sseWriter) error {
		return s.Lifecycle.ProcessLogs(ctx, sb.ID, req, func(l sandbox.LogLine) error {
			data, err := json.Marshal(logLineJSON(l))
			if err != nil {
				return err
			}
			return sw.frame(l.Seq, "log", data)
		})
	})
	if err != nil {
		s.Logger.Info("log stream ended", "request_id", requestID(r.Context()), "sandbox_id", sb.ID, "err", err)
	}
	return nil
}

// sandboxTerminal is GET /api/sandboxes/{id}/terminal[?cols=N&rows=N], a
// WebSocket: binary messages carry raw terminal bytes both ways, a text
// message {"type":"resize","cols":N,"rows":N} resizes, and closing the
// socket ends the shell. Browsers may open it only from the app's own
// origin.
func (s *Server) sandboxTerminal(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.ownedSandbox(r)
	if err != nil {
		return err
	}
	cols, rows := 80, 24
	if v := r.URL.Query().Get("cols"); v != "" {
		if cols, err = strconv.Atoi(v); err != nil {
			return badRequest("cols must be a number")
		}
	}
	if v := r.URL.Query().Get("rows"); v != "" {
		if rows, err = strconv.Atoi(v); err != nil {
			return badRequest("rows must be a number")
		}
	}
	if cols < 1 || cols > 1000 || rows < 1 || rows > 1000 {
		return badRequest("cols and rows must be between 1 and 1000")
	}
	if sb.State != string(sandbox.StateRunning) {
		return sandbox.ErrNotRunning
	}
	// Origin is checked before the shell starts. coder/websocket accepts an
	// Origin whose host is the request's own host; the public URL's host
	// is added for servers behind a proxy that rewrites Host.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{s.Config.PublicURL.Host}})
	if err != nil {
		// Accept has answered (403 for a foreign origin).
		s.Logger.Info("terminal upgrade refused", "request_id", requestID(r.Context()), "err", err)
		return nil
	}
	ws.SetReadLimit(1 << 20)
	ctx := r.Context()
	term, err := s.Lifecycle.OpenTerminal(ctx, sb.ID, cols, rows)
	if err != nil {
		s.Logger.Warn("open terminal", "request_id", requestID(ctx), "sandbox_id", sb.ID, "err", err)
		ws.Close(websocket.StatusInternalError, "the terminal could not be started")
		return nil
	}
	defer term.Close()

	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		for {
			data, err := term.Output(ctx)
			if err != nil {
				if errors.Is(err, io.EOF) {
					ws.Close(websocket.StatusNormalClosure, "the shell exited")
				} else {
					ws.Close(websocket.StatusGoingAway, "the terminal ended")
				}
				return
			}
			if err := ws.Write(ctx, websocket.MessageBinary, data); err != nil {
				return
			}
		}
	}()
read:
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			break
		}
		switch typ {
		case websocket.MessageBinary:
			err = term.Input(ctx, data)
		case websocket.MessageText:
			var m struct {
				Type string `json:"type"`
				Cols int    `json:"cols"`
				Rows int    `json:"rows"`
			}
			if jerr := json.Unmarshal(data, &m); jerr != nil || m.Type != "resize" {
				ws.Close(websocket.StatusUnsupportedData, `text messages must be {"type":"resize","cols":N,"rows":N}`)
				break read
			}
			err = term.Resize(ctx, m.Cols, m.Rows)
		}
		if err != nil {
			break
		}
	}
	term.Close()
	ws.CloseNow()
	<-outDone
	return nil
}
