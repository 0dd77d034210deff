package daytonatest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// The daemon's log multiplexing: every chunk of a session command's log
// starts with three bytes naming its stream.
const (
	StdoutMarker = "\x01\x01\x01"
	StderrMarker = "\x02\x02\x02"
)

// session is a Daytona process session. Daytona runs its commands in one
// long-lived shell; the fake runs each command as its own backend process
// (named "dtn-<cmdId>"), so `cd` and `export` do not carry over between
// commands.
type session struct {
	id       string
	commands []*sessionCommand
}

type sessionCommand struct {
	id, command string
	backendName string
}

func (s *Server) sessionRoutes(handle func(string, toolboxFunc)) {
	handle("POST /process/session", s.createSession)
	handle("GET /process/session", s.listSessions)
	handle("GET /process/session/{sid}", s.withSession(s.getSession))
	handle("DELETE /process/session/{sid}", s.withSession(s.deleteSession))
	handle("POST /process/session/{sid}/exec", s.sessionExec)
	handle("GET /process/session/{sid}/command/{cid}", s.withCommand(s.getCommand))
	handle("GET /process/session/{sid}/command/{cid}/logs", s.withCommand(s.commandLogs))
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	var req struct {
		SessionID string `json:"sessionId"`
	}
	if err := decodeBody(r, &req); err != nil || req.SessionID == "" {
		daemonError(w, r, http.StatusBadRequest, "sessionId is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := sb.sessions[req.SessionID]; ok || req.SessionID == "entrypoint" {
		daemonError(w, r, http.StatusConflict, "session already exists")
		return
	}
	sb.sessions[req.SessionID] = &session{id: req.SessionID}
	w.WriteHeader(http.StatusCreated)
}

// sessionJSON is the daemon's Session; exitCode is absent while a command
// runs.
func (s *Server) sessionJSON(ctx context.Context, sb *fakeSandbox, ss *session) map[string]any {
	s.mu.Lock()
	cmds := append([]*sessionCommand(nil), ss.commands...)
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(cmds))
	for _, c := range cmds {
		out = append(out, s.commandJSON(ctx, sb, c))
	}
	return map[string]any{"sessionId": ss.id, "commands": out}
}

func (s *Server) commandJSON(ctx context.Context, sb *fakeSandbox, c *sessionCommand) map[string]any {
	m := map[string]any{"id": c.id, "command": c.command}
	st, err := s.opts.Backend.Process(ctx, sb.backendID, c.backendName)
	if err == nil && !st.Running {
		m["exitCode"] = st.ExitCode
	}
	return m
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	var list []*session
	for _, ss := range sb.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(list))
	for _, ss := range list {
		out = append(out, s.sessionJSON(r.Context(), sb, ss))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) withSession(h func(http.ResponseWriter, *http.Request, *fakeSandbox, *session)) toolboxFunc {
	return func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		s.mu.Lock()
		ss := sb.sessions[r.PathValue("sid")]
		s.mu.Unlock()
		if ss == nil {
			daemonError(w, r, http.StatusNotFound, "session not found")
			return
		}
		h(w, r, sb, ss)
	}
}

func (s *Server) withCommand(h func(http.ResponseWriter, *http.Request, *fakeSandbox, *sessionCommand)) toolboxFunc {
	return s.withSession(func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, ss *session) {
		s.mu.Lock()
		var cmd *sessionCommand
		for _, c := range ss.commands {
			if c.id == r.PathValue("cid") {
				cmd = c
			}
		}
		s.mu.Unlock()
		if cmd == nil {
			daemonError(w, r, http.StatusNotFound, "command not found")
			return
		}
		h(w, r, sb, cmd)
	})
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, ss *session) {
	writeJSON(w, http.StatusOK, s.sessionJSON(r.Context(), sb, ss))
}

// deleteSession kills the session's running commands (by replacing each
// backend process with one that exits at once) and forgets the session.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, ss *session) {
	s.mu.Lock()
	delete(sb.sessions, ss.id)
	cmds := append([]*sessionCommand(nil), ss.commands...)
	s.mu.Unlock()
	for _, c := range cmds {
		st, err := s.opts.Backend.Process(r.Context(), sb.backendID, c.backendName)
		if err != nil || !st.Running {
			continue
		}
		if err := s.opts.Backend.StartProcess(r.Context(), sb.backendID, sandbox.ProcessRequest{Name: c.backendName, Command: "exit 0"}); err != nil {
			daemonError(w, r, http.StatusInternalServerError, "kill command: "+err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// wrapCommand runs command with its stderr lines tagged, since a plain
// backend process has one pipe for both streams: stderr goes through a
// FIFO to sed, which prefixes every line with the stderr marker.
func wrapCommand(env map[string]string, command string) string {
	return envExports(env) + `qv_e=$(mktemp -u /tmp/.dtn-err.XXXXXX) && mkfifo "$qv_e" || exit 125
sed -u 's/^/` + StderrMarker + `/' <"$qv_e" &
(
` + command + `
) 2>"$qv_e"
qv_rc=$?
wait
rm -f "$qv_e"
exit $qv_rc`
}

func (s *Server) sessionExec(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	sid := r.PathValue("sid")
	if sid == "entrypoint" {
		daemonError(w, r, http.StatusBadRequest, "can't execute commands in the entrypoint session")
		return
	}
	var req struct {
		Command  string `json:"command"`
		RunAsync bool   `json:"runAsync"`
		Async    bool   `json:"async"`
	}
	if err := decodeBody(r, &req); err != nil {
		daemonError(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		daemonError(w, r, http.StatusBadRequest, "command is required")
		return
	}
	s.mu.Lock()
	ss := sb.sessions[sid]
	s.mu.Unlock()
	if ss == nil {
		daemonError(w, r, http.StatusNotFound, "session not found")
		return
	}
	id := uuid.NewString()
	cmd := &sessionCommand{id: id, command: req.Command, backendName: "dtn-" + id}
	err := s.opts.Backend.StartProcess(r.Context(), sb.backendID, sandbox.ProcessRequest{
		Name: cmd.backendName, Command: wrapCommand(sb.envSnapshot(s), req.Command),
	})
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, "start command: "+err.Error())
		return
	}
	s.mu.Lock()
	ss.commands = append(ss.commands, cmd)
	s.mu.Unlock()
	if req.RunAsync || req.Async {
		writeJSON(w, http.StatusAccepted, map[string]string{"cmdId": id})
		return
	}
	lines, code, err := s.collect(r.Context(), sb, cmd, true)
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	mode := logMode(r)
	resp := map[string]any{"cmdId": id, "output": renderLog(lines, mode), "exitCode": code}
	if mode == modeJSON {
		resp["stdout"], resp["stderr"] = demuxed(lines)
	}
	writeJSON(w, http.StatusOK, resp)
}

// logLine is one line of a session command's log.
type logLine struct {
	stderr bool
	text   string
}

// errStopLogs ends a log walk early.
var errStopLogs = errors.New("stop")

// collect reads the command's log lines. With wait it waits for the
// command to exit; the exit code is -1 while it runs.
func (s *Server) collect(ctx context.Context, sb *fakeSandbox, c *sessionCommand, wait bool) ([]logLine, int, error) {
	var lines []logLine
	exited := false
	err := s.opts.Backend.ProcessLogs(ctx, sb.backendID, sandbox.LogsRequest{Name: c.backendName, Follow: wait}, func(l sandbox.LogLine) error {
		if l.Stream == "system" {
			exited = true
			return errStopLogs
		}
		lines = append(lines, toLogLine(l))
		return nil
	})
	if err != nil && !errors.Is(err, errStopLogs) {
		return nil, 0, fmt.Errorf("read command logs: %w", err)
	}
	code := -1
	if exited || !wait {
		st, err := s.opts.Backend.Process(ctx, sb.backendID, c.backendName)
		if err != nil {
			return nil, 0, fmt.Errorf("command status: %w", err)
		}
		if !st.Running {
			code = st.ExitCode
		}
	}
	return lines, code, nil
}

func toLogLine(l sandbox.LogLine) logLine {
	if text, ok := strings.CutPrefix(l.Line, StderrMarker); ok {
		return logLine{stderr: true, text: text}
	}
	return logLine{stderr: l.Stream == "stderr", text: l.Line}
}

// Log formats, chosen by the client's SDK version.
const (
	modeJSON     = "json"     // >= 0.167.0: JSON over HTTP, markers kept in output
	modeSplit    = "split"    // 0.27.0 up to 0.167.0: plain text with markers
	modeCombined = "combined" // no version: plain text, markers stripped
)

// logMode picks the log format from X-Daytona-SDK-Version, or from a
// WebSocket subprotocol X-Daytona-SDK-Version~<ver>.
func logMode(r *http.Request) string {
	v := r.Header.Get("X-Daytona-SDK-Version")
	if v == "" {
		for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(p), "X-Daytona-SDK-Version~"); ok {
				v = rest
			}
		}
	}
	if v == "" {
		if strings.EqualFold(r.Header.Get("X-Daytona-Split-Output"), "true") {
			return modeSplit
		}
		return modeCombined
	}
	if v == "dev" || strings.HasPrefix(v, "dev") {
		return modeJSON
	}
	switch {
	case versionAtLeast(v, 0, 167, 0):
		return modeJSON
	case versionAtLeast(v, 0, 27, 0):
		return modeSplit
	}
	return modeCombined
}

// versionAtLeast compares a semver (a leading v and a pre-release suffix
// are ignored) with major.minor.patch.
func versionAtLeast(v string, major, minor, patch int) bool {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	want := []int{major, minor, patch}
	for i := range want {
		n := 0
		if i < len(parts) {
			var err error
			if n, err = strconv.Atoi(parts[i]); err != nil {
				return false
			}
		}
		if n != want[i] {
			return n > want[i]
		}
	}
	return true
}

// renderLine is one line as the daemon writes it to the log: with its
// stream marker, unless the format strips markers.
func renderLine(l logLine, mode string) string {
	if mode == modeCombined {
		return l.text + "\n"
	}
	if l.stderr {
		return StderrMarker + l.text + "\n"
	}
	return StdoutMarker + l.text + "\n"
}

func renderLog(lines []logLine, mode string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(renderLine(l, mode))
	}
	return b.String()
}

func demuxed(lines []logLine) (stdout, stderr string) {
	var o, e strings.Builder
	for _, l := range lines {
		if l.stderr {
			e.WriteString(l.text + "\n")
		} else {
			o.WriteString(l.text + "\n")
		}
	}
	return o.String(), e.String()
}

func (s *Server) getCommand(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, c *sessionCommand) {
	writeJSON(w, http.StatusOK, s.commandJSON(r.Context(), sb, c))
}

// commandLogs is the command's log: a snapshot over HTTP, or with
// ?follow=true on a WebSocket, binary frames as lines arrive and a normal
// close about a second after the command exits.
func (s *Server) commandLogs(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, c *sessionCommand) {
	mode := logMode(r)
	if r.URL.Query().Get("follow") == "true" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.streamLogs(w, r, sb, c, mode)
		return
	}
	lines, _, err := s.collect(r.Context(), sb, c, false)
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if mode == modeJSON {
		stdout, stderr := demuxed(lines)
		writeJSON(w, http.StatusOK, map[string]string{"output": renderLog(lines, mode), "stdout": stdout, "stderr": stderr})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(renderLog(lines, mode)))
}

func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, sb *fakeSandbox, c *sessionCommand, mode string) {
	var protos []string
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			protos = append(protos, p)
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: protos})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	// CloseRead answers pings and ends ctx when the client goes away.
	ctx := ws.CloseRead(s.ctx)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := false
	err = s.opts.Backend.ProcessLogs(ctx, sb.backendID, sandbox.LogsRequest{Name: c.backendName, Follow: true}, func(l sandbox.LogLine) error {
		if l.Stream == "system" {
			exited = true
			return errStopLogs
		}
		return ws.Write(ctx, websocket.MessageBinary, []byte(renderLine(toLogLine(l), mode)))
	})
	if !exited {
		if err != nil && ctx.Err() == nil {
			ws.Close(websocket.StatusInternalError, "read logs: "+err.Error())
		}
		return
	}
	// The daemon notices the exit-code file and closes about a second later.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
