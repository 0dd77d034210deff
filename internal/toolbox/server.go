package toolbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of the toolbox API.
const (
	DefaultExecTimeout = 2 * time.Minute
	MaxExecTimeout     = time.Hour
	// ExecOutputLimit caps the combined output of one exec; the tail is kept.
	ExecOutputLimit = 64 << 10
	// ProcessTailSize is how much output of a background process is kept.
	ProcessTailSize = 16 << 10

	maxRequestBody = 1 << 20
	dialTimeout    = 5 * time.Second
)

// Wire types. They are shared by the server and the client of this package.
type (
	execRequest struct {
		Command        string  `json:"command"`
		TimeoutSeconds float64 `json:"timeoutSeconds"`
	}
	execResponse struct {
		ExitCode  int    `json:"exitCode"`
		Output    string `json:"output"`
		TimedOut  bool   `json:"timedOut"`
		Truncated bool   `json:"truncated"`
	}
	processRequest struct {
		Name    string `json:"name"`
		Command string `json:"command"`
		Restart bool   `json:"restart"`
	}
	processResponse struct {
		Name       string `json:"name"`
		Running    bool   `json:"running"`
		ExitCode   int    `json:"exitCode"`
		OutputTail string `json:"outputTail"`
		Restart    bool   `json:"restart"`
		Restarts   int    `json:"restarts"`
	}
	errorResponse struct {
		Error string `json:"error"`
	}
)

// validProcessName reports whether name matches
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. It is written out rather than a
// regexp: compiling that one (the bounded repeat unrolls 63 times) cost
// every toolbox and qv-serve process 60 KB and 865 allocations at start.
func validProcessName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i, c := range []byte(name) {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Dir is the working directory of every command (default /workspace).
	Dir string
	// Env is the full environment of every command (default Env()).
	Env    []string
	Logger *slog.Logger
}

// Server implements the toolbox HTTP API. Background processes it starts
// are its children; Close kills them.
type Server struct {
	dir string
	env []string
	log *slog.Logger

	// startMu serialises StartProcess so that replacing a process under a
	// name is one step.
	startMu sync.Mutex

	mu     sync.Mutex
	procs  map[string]*process
	terms  map[*ptySession]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a Server; call Close to stop its processes.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Dir == "" {
		cfg.Dir = WorkspaceDir
	}
	if cfg.Env == nil {
		cfg.Env = Env()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{dir: cfg.Dir, env: cfg.Env, log: cfg.Logger, procs: make(map[string]*process), terms: make(map[*ptySession]struct{})}
}

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /v1/exec", s.handleExec)
	mux.HandleFunc("POST /v1/processes", s.handleStartProcess)
	mux.HandleFunc("GET /v1/processes/{name}", s.handleProcess)
	mux.HandleFunc("GET /v1/processes/{name}/logs", s.handleLogs)
	mux.HandleFunc("GET /v1/terminal", s.handleTerminal)
	mux.HandleFunc("GET /v1/dial/{port}", s.handleDial)
	return mux
}

// Close kills every background process and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	procs := make([]*process, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	s.closeTerminals()
	s.wg.Wait()
}

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req execRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		writeError(w, http.StatusBadRequest, "command is empty")
		return
	}
	timeout := DefaultExecTimeout
	if req.TimeoutSeconds > 0 {
		timeout = min(time.Duration(req.TimeoutSeconds*float64(time.Second)), MaxExecTimeout)
	}
	// The request context ends when the host gives up (connection closed),
	// which kills the command like a timeout does.
	resp, err := s.exec(r.Context(), req.Command, timeout)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) exec(ctx context.Context, command string, timeout time.Duration) (execResponse, error) {
	out := newTailBuffer(ExecOutputLimit)
	g, err := startGroup(s.dir, s.env, command, out)
	if err != nil {
		return execResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, g.kill)
	ps := g.wait()
	killed := !stop()
	resp := execResponse{
		ExitCode:  exitCode(ps),
		Output:    out.String(),
		TimedOut:  killed && errors.Is(ctx.Err(), context.DeadlineExceeded),
		Truncated: out.Truncated(),
	}
	s.log.Debug("exec finished", "exitCode", resp.ExitCode, "timedOut", resp.TimedOut)
	return resp, nil
}

func (s *Server) handleStartProcess(w http.ResponseWriter, r *http.Request) {
	var req processRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if !validProcessName(req.Name) {
		writeError(w, http.StatusBadRequest, "invalid process name")
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		writeError(w, http.StatusBadRequest, "command is empty")
		return
	}
	if err := s.startProcess(req.Name, req.Command, req.Restart); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.status(req.Name))
}

// startProcess starts a background process, replacing (stopping) one of
// the same name. Its line log carries on from the one it replaces.
func (s *Server) startProcess(name, command string, restart bool) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()

	s.mu.Lock()
	old := s.procs[name]
	s.mu.Unlock()
	lines := newLineLog()
	if old != nil {
		old.stop()
		<-old.done
		lines = old.lines
	}

	p := &process{
		name: name, command: command, restart: restart,
		lines: lines, tail: newTailBuffer(ProcessTailSize),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	g, err := p.spawn(s.dir, s.env)
	if err != nil {
		return err
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		g.kill()
		g.wait()
		return errors.New("toolbox is shutting down")
	}
	s.procs[name] = p
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		p.supervise(g, s.dir, s.env, s.log)
	}()
	s.log.Info("process started", "name", name, "pid", g.cmd.Process.Pid, "restart", restart)
	return nil
}

func (s *Server) process(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[name]
}

// status reports on a process; the zero value (Name empty) means unknown.
func (s *Server) status(name string) processResponse {
	p := s.process(name)
	if p == nil {
		return processResponse{}
	}
	return p.status()
}

func (s *Server) handleProcess(w http.ResponseWriter, r *http.Request) {
	st := s.status(r.PathValue("name"))
	if st.Name == "" {
		writeError(w, http.StatusNotFound, "no such process")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleDial connects to 127.0.0.1:port in the sandbox's network namespace
// and, once connected, turns the HTTP connection into a raw byte pipe.
func (s *Server) handleDial(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		writeError(w, http.StatusBadRequest, "invalid port")
		return
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
		writeError(w, http.StatusBadRequest, "expected Connection: Upgrade and Upgrade: tcp")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	defer cancel()
	var d net.Dialer
	upstream, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		// 502 tells the host "nothing is listening yet" apart from
		// toolbox failures.
		writeError(w, http.StatusBadGateway, fmt.Sprintf("port %d not answering: %v", port, err))
		return
	}
	defer upstream.Close()

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "hijack: "+err.Error())
		return
	}
	defer conn.Close()
	// Hijack leaves deadlines set by the server in place.
	_ = conn.SetDeadline(time.Time{})
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	// brw.Reader may already hold bytes the client sent after the request.
	pipeConns(conn, brw.Reader, upstream)
}

type closeWriter interface{ CloseWrite() error }

// pipeConns copies a→b and b→a, propagating half-closes, and returns when
// both directions are done. aReader reads from a (possibly buffered).
func pipeConns(a net.Conn, aReader io.Reader, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(b, aReader)
		closeWrite(b)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(a, b)
		closeWrite(a)
	}()
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, maxRequestBody)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
		return false
	}
	// The server only watches for the client going away (and cancels the
	// request context, which kills a running exec) once the body hit EOF.
	_, _ = io.Copy(io.Discard, body)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}
