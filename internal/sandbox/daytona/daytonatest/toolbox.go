package daytonatest

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// sandboxKey carries the toolbox request's sandbox in its context.
type sandboxKey struct{}

type toolboxFunc func(http.ResponseWriter, *http.Request, *fakeSandbox)

// toolboxHandler serves {toolboxProxyUrl}/{sandboxId}/... : auth (API key
// or the standard preview token), faults, then the daemon's routes.
func (s *Server) toolboxHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h toolboxFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h(w, r, r.Context().Value(sandboxKey{}).(*fakeSandbox))
		})
	}
	handle("GET /version", func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	})
	handle("GET /work-dir", func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		writeJSON(w, http.StatusOK, map[string]string{"dir": WorkDir})
	})
	handle("GET /user-home-dir", func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		writeJSON(w, http.StatusOK, map[string]string{"dir": HomeDir})
	})
	handle("POST /process/execute", s.execute)
	handle("GET /port/{port}/in-use", s.portInUse)
	s.sessionRoutes(handle)
	s.fileRoutes(handle)
	s.ptyRoutes(handle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		daemonError(w, r, http.StatusNotFound, "404 page not found")
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sandbox")
		sub := toolboxSubpath(r)
		s.mu.Lock()
		sb := s.sandboxes[id]
		s.mu.Unlock()
		if !s.toolboxAuthOK(r, sb) {
			daemonError(w, r, http.StatusUnauthorized, "Unauthorized")
			return
		}
		if sb == nil {
			daemonError(w, r, http.StatusNotFound, fmt.Sprintf("sandbox %s not found", id))
			return
		}
		if f := s.takeFault(r.Method, sub); f != nil {
			writeFault(w, r, f, "authenticated", true)
			return
		}
		s.mu.Lock()
		state := sb.state
		s.mu.Unlock()
		if state != "started" {
			daemonError(w, r, http.StatusBadRequest, fmt.Sprintf("bad request: sandbox %s is not started (state %s)", id, state))
			return
		}
		// Toolbox calls count as activity for auto-stop.
		s.touch(sb)
		r2 := r.Clone(context.WithValue(r.Context(), sandboxKey{}, sb))
		r2.URL.Path = sub
		r2.URL.RawPath = ""
		mux.ServeHTTP(w, r2)
	})
}

// toolboxSubpath is the request path below {toolboxProxyUrl}/{sandboxId}.
func toolboxSubpath(r *http.Request) string {
	p, ok := strings.CutPrefix(r.URL.Path, "/toolbox/")
	if !ok {
		return r.URL.Path
	}
	_, rest, _ := strings.Cut(p, "/")
	return "/" + rest
}

// toolboxAuthOK accepts the API key, or the sandbox's standard preview
// token as header or query; signed preview tokens never open the toolbox.
func (s *Server) toolboxAuthOK(r *http.Request, sb *fakeSandbox) bool {
	if s.bearerOK(r) {
		return true
	}
	if sb == nil {
		return false
	}
	s.mu.Lock()
	token := sb.authToken
	s.mu.Unlock()
	if token == "" {
		return false
	}
	return r.Header.Get("X-Daytona-Preview-Token") == token || r.URL.Query().Get("DAYTONA_SANDBOX_AUTH_KEY") == token
}

// backendPath maps a Daytona path to a path relative to the backend's
// workspace: absolute paths must lie under the work dir, relative ones
// resolve against it. ok is false (and the answer written) otherwise.
func backendPath(w http.ResponseWriter, r *http.Request, p string) (string, bool) {
	if p == "" {
		daemonError(w, r, http.StatusBadRequest, "path is required")
		return "", false
	}
	if !path.IsAbs(p) {
		p = path.Join(WorkDir, p)
	}
	p = path.Clean(p)
	if p == WorkDir {
		return ".", true
	}
	rel, ok := strings.CutPrefix(p, WorkDir+"/")
	if !ok {
		daemonError(w, r, http.StatusBadRequest, fmt.Sprintf("path %s is outside %s: the fake Daytona only serves the work dir", p, WorkDir))
		return "", false
	}
	return rel, true
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// envExports is a shell prefix exporting env.
func envExports(env map[string]string) string {
	var b strings.Builder
	for k, v := range env {
		if !validEnvName(k) {
			continue
		}
		fmt.Fprintf(&b, "export %s=%s; ", k, shellQuote(v))
	}
	return b.String()
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// execute is POST /process/execute: one command, stdout and stderr
// combined; a timeout (seconds, only when > 0) ends in 408.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	var req struct {
		Command string            `json:"command"`
		Cwd     string            `json:"cwd"`
		Envs    map[string]string `json:"envs"`
		Timeout int               `json:"timeout"`
	}
	if err := decodeBody(r, &req); err != nil {
		daemonError(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	if strings.TrimSpace(req.Command) == "" {
		daemonError(w, r, http.StatusBadRequest, "command is required")
		return
	}
	if req.Timeout < 0 {
		daemonError(w, r, http.StatusBadRequest, "timeout must not be negative")
		return
	}
	cmd := envExports(sb.envSnapshot(s)) + envExports(req.Envs)
	if req.Cwd != "" {
		rel, ok := backendPath(w, r, req.Cwd)
		if !ok {
			return
		}
		cmd += "cd " + shellQuote(path.Join(WorkDir, rel)) + " && "
	}
	cmd += "{\n" + req.Command + "\n}"
	// Without a timeout Daytona lets the command run; the backend needs
	// some bound, so it gets the longest a test could want.
	timeout := time.Hour
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout) * time.Second
	}
	res, err := s.opts.Backend.Exec(r.Context(), sb.backendID, sandbox.ExecRequest{Command: cmd, Timeout: timeout})
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if res.TimedOut {
		daemonError(w, r, http.StatusRequestTimeout, "command execution timeout")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"exitCode": res.ExitCode, "result": res.Output})
}

// envSnapshot returns the sandbox's env, set at create.
func (sb *fakeSandbox) envSnapshot(s *Server) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMap(sb.env)
}

// portInUse is GET /port/{port}/in-use: only 3000-9999, true when the
// backend can connect to the port.
func (s *Server) portInUse(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 3000 || port > 9999 {
		daemonError(w, r, http.StatusBadRequest, "port out of range: only ports 3000-9999 are allowed")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	conn, err := s.opts.Backend.DialPort(ctx, sb.backendID, port)
	if err == nil {
		conn.Close()
	}
	writeJSON(w, http.StatusOK, map[string]bool{"isInUse": err == nil})
}
