package daytona

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Background processes are toolbox sessions, one per process name, each
// running one command: a small sh script (below) that runs the process in
// the workspace and writes a "system" line when it exits, and for a
// supervised process restarts it with a growing delay.
//
// The session id is "qv.<name>.<base>": base is the Seq of the line before
// the session's first, so Seq keeps growing when a process is replaced,
// with no state kept in this server (which may restart while Daytona
// sandboxes live on).

const (
	sessionPrefix = "qv."
	// tailBytes is how much output ProcessStatus.OutputTail keeps.
	tailBytes = 8 << 10
)

var processNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

type commandDTO struct {
	ID       string `json:"id"`
	Command  string `json:"command"`
	ExitCode *int   `json:"exitCode"`
}

type sessionDTO struct {
	SessionID string       `json:"sessionId"`
	Commands  []commandDTO `json:"commands"`
}

// procSession is the session of one named process.
type procSession struct {
	id   string
	base int64
	cmd  commandDTO // the last command; ID "" if none ran yet
}

func sessionID(name string, base int64) string {
	return sessionPrefix + name + "." + strconv.FormatInt(base, 10)
}

// parseSessionID returns the base of a session id of process name.
func parseSessionID(sid, name string) (int64, bool) {
	rest, ok := strings.CutPrefix(sid, sessionPrefix+name+".")
	if !ok {
		return 0, false
	}
	base, err := strconv.ParseInt(rest, 10, 64)
	return base, err == nil && base >= 0
}

func sessionPath(sid string) string { return "/process/session/" + url.PathEscape(sid) }

// findSession returns the current session of process name; none wraps
// sandbox.ErrNoProcess.
func (p *Provider) findSession(ctx context.Context, id, name string) (procSession, error) {
	var sessions []sessionDTO
	if err := p.tbJSON(ctx, id, call{method: http.MethodGet, path: "/process/session"}, nil, &sessions); err != nil {
		return procSession{}, fmt.Errorf("list sessions: %w", err)
	}
	found := procSession{base: -1}
	for _, s := range sessions {
		// A crashed replacement may have left an older one; the newest wins.
		if base, ok := parseSessionID(s.SessionID, name); ok && base > found.base {
			found = procSession{id: s.SessionID, base: base}
		}
	}
	if found.base < 0 {
		return procSession{}, fmt.Errorf("process %q: %w", name, sandbox.ErrNoProcess)
	}
	var s sessionDTO
	if err := p.tbJSON(ctx, id, call{method: http.MethodGet, path: sessionPath(found.id)}, nil, &s); err != nil {
		if errors.Is(err, sandbox.ErrNotFound) {
			return procSession{}, fmt.Errorf("process %q: %w", name, sandbox.ErrNoProcess)
		}
		return procSession{}, fmt.Errorf("get session: %w", err)
	}
	if n := len(s.Commands); n > 0 {
		found.cmd = s.Commands[n-1]
	}
	return found, nil
}

// commandOutput is the log of a session command so far, markers kept.
func (p *Provider) commandOutput(ctx context.Context, id string, s procSession) ([]byte, error) {
	if s.cmd.ID == "" {
		return nil, nil
	}
	var logs struct {
		Output string `json:"output"`
	}
	c := call{method: http.MethodGet, path: sessionPath(s.id) + "/command/" + url.PathEscape(s.cmd.ID) + "/logs"}
	if err := p.tbJSON(ctx, id, c, nil, &logs); err != nil {
		return nil, fmt.Errorf("read process log: %w", err)
	}
	return []byte(logs.Output), nil
}

// StartProcess implements sandbox.Provider. A process of the same name is
// replaced: its session is deleted, which ends its commands.
func (p *Provider) StartProcess(ctx context.Context, id string, req sandbox.ProcessRequest) error {
	if !processNameRE.MatchString(req.Name) {
		return fmt.Errorf("start process: invalid name %q", req.Name)
	}
	if strings.TrimSpace(req.Command) == "" {
		return fmt.Errorf("start process %q: command is empty", req.Name)
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return err
	}
	base := int64(0)
	old, err := p.findSession(ctx, id, req.Name)
	switch {
	case err == nil:
		out, err := p.commandOutput(ctx, id, old)
		if err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			return fmt.Errorf("start process %q: %w", req.Name, err)
		}
		base = old.base + int64(len(demuxAll(out, true)))
		if err := p.deleteSession(ctx, id, old.id); err != nil {
			return fmt.Errorf("start process %q: stop the running one: %w", req.Name, err)
		}
	case !errors.Is(err, sandbox.ErrNoProcess):
		return fmt.Errorf("start process %q: %w", req.Name, err)
	}
	sid := sessionID(req.Name, base)
	create := call{method: http.MethodPost, path: "/process/session"}
	err = p.tbJSON(ctx, id, create, map[string]string{"sessionId": sid}, nil)
	if isStatus(err, http.StatusConflict) {
		// Left over from an earlier attempt that failed half way.
		if err = p.deleteSession(ctx, id, sid); err == nil {
			err = p.tbJSON(ctx, id, create, map[string]string{"sessionId": sid}, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("start process %q: create session: %w", req.Name, err)
	}
	script := processScript(b.workDir+"/"+p.workspace, b.workDir+"/"+toolsDir, req.Command, req.Restart)
	exec := struct {
		Command  string `json:"command"`
		RunAsync bool   `json:"runAsync"`
	}{Command: "sh -c " + shellQuote(script), RunAsync: true}
	if err := p.tbJSON(ctx, id, call{method: http.MethodPost, path: sessionPath(sid) + "/exec"}, exec, nil); err != nil {
		if derr := p.deleteSession(context.WithoutCancel(ctx), id, sid); derr != nil {
			p.log.Warn("remove session of a process that did not start", "sandbox", id, "session", sid, "err", derr)
		}
		return fmt.Errorf("start process %q: %w", req.Name, err)
	}
	p.log.Info("process started", "sandbox", id, "name", req.Name, "restart", req.Restart)
	return nil
}

func (p *Provider) deleteSession(ctx context.Context, id, sid string) error {
	_, _, err := p.tb(ctx, id, call{method: http.MethodDelete, path: sessionPath(sid)})
	if err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		return err
	}
	return nil
}

// processScript is the one-line sh script a process runs as. It writes
// the same notes as the local engine's supervisor ("exited with code N",
// "exited with code N; restarting in Ds", "restarted") behind systemMark.
// A supervised process is restarted after 1 s, doubling up to 30 s while
// it keeps crashing; a run of 30 s or more resets the delay. tools goes
// last on PATH: it holds stand-ins for QuickVibe's own commands that a
// Daytona snapshot lacks.
func processScript(dir, tools, command string, restart bool) string {
	run := "PATH=\"$PATH\":" + shellQuote(tools) + " sh -c " + shellQuote(command)
	// note prints a supervisor line; format and args as for printf.
	note := func(format string, args ...string) string {
		return `printf '\036qv:` + format + `\n' ` + strings.Join(args, " ")
	}
	if !restart {
		return "cd " + shellQuote(dir) + " || exit 1; " + run + "; c=$?; " +
			note("exited with code %s", `"$c"`) + "; exit $c"
	}
	return "cd " + shellQuote(dir) + " || exit 1; d=1; while :; do s=$(date +%s); " + run + "; c=$?; " +
		"if [ $(($(date +%s) - s)) -ge 30 ]; then d=1; fi; " +
		note("exited with code %s; restarting in %ss", `"$c"`, `"$d"`) + "; sleep $d; " +
		"d=$((d * 2)); if [ $d -gt 30 ]; then d=30; fi; " +
		note("restarted") + "; done"
}

// Process implements sandbox.Provider from the session command and its
// log: a supervised process is not running between an exit note and the
// next "restarted".
func (p *Provider) Process(ctx context.Context, id, name string) (sandbox.ProcessStatus, error) {
	s, err := p.findSession(ctx, id, name)
	if err != nil {
		return sandbox.ProcessStatus{}, err
	}
	out, err := p.commandOutput(ctx, id, s)
	if err != nil {
		return sandbox.ProcessStatus{}, fmt.Errorf("process %q: %w", name, err)
	}
	return statusOf(name, s.cmd, demuxAll(out, true)), nil
}

func statusOf(name string, cmd commandDTO, lines []logLine) sandbox.ProcessStatus {
	st := sandbox.ProcessStatus{Name: name, Running: cmd.ID != "" && cmd.ExitCode == nil}
	var tail []string
	size := 0
	exited, sawEvent := false, false
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if l.stream == "system" {
			code, isExit := exitNote(l.line)
			if !sawEvent && isExit {
				// The last event is an exit: between runs, or done.
				exited, st.ExitCode = true, code
			}
			sawEvent = sawEvent || isExit || l.line == "restarted"
			if l.line == "restarted" {
				st.Restarts++
			}
			continue
		}
		if size < tailBytes {
			tail = append(tail, l.line)
			size += len(l.line) + 1
		}
	}
	if exited {
		st.Running = false
	}
	if !st.Running && !exited && cmd.ExitCode != nil {
		st.ExitCode = *cmd.ExitCode
	}
	var b strings.Builder
	for i := len(tail) - 1; i >= 0; i-- {
		b.WriteString(tail[i])
		b.WriteByte('\n')
	}
	t := b.String()
	if len(t) > tailBytes {
		t = strings.ToValidUTF8(t[len(t)-tailBytes:], "")
	}
	st.OutputTail = t
	return st
}

// exitNote reads the code of an "exited with code N[; ...]" note.
func exitNote(line string) (int, bool) {
	rest, ok := strings.CutPrefix(line, "exited with code ")
	if !ok {
		return 0, false
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	code, err := strconv.Atoi(rest)
	return code, err == nil
}
