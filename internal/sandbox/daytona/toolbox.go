package daytona

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// execOutputLimit caps Exec output like the local engine does: the last
// 64 KiB are kept.
const execOutputLimit = 64 << 10

// toolboxOf returns the toolbox of the started sandbox d, learning its
// work dir on first use.
func (p *Provider) toolboxOf(ctx context.Context, d sandboxDTO) (toolboxRef, error) {
	if d.ToolboxProxyURL == "" {
		return toolboxRef{}, fmt.Errorf("sandbox %s: Daytona named no toolbox proxy URL", d.ID)
	}
	if ref, ok := p.cachedToolbox(d.ID); ok {
		return ref, nil
	}
	base := strings.TrimRight(d.ToolboxProxyURL, "/") + "/" + url.PathEscape(d.ID)
	var wd struct {
		Dir string `json:"dir"`
	}
	if err := p.doJSON(ctx, call{method: http.MethodGet, base: base, path: "/work-dir"}, nil, &wd); err != nil {
		return toolboxRef{}, fmt.Errorf("sandbox %s: ask the work dir: %w", d.ID, err)
	}
	if !path.IsAbs(wd.Dir) {
		return toolboxRef{}, fmt.Errorf("sandbox %s: toolbox gave a work dir %q that is not absolute", d.ID, wd.Dir)
	}
	ref := toolboxRef{url: base, workDir: path.Clean(wd.Dir)}
	b := p.box(d.ID)
	p.mu.Lock()
	b.toolbox = ref
	p.mu.Unlock()
	return ref, nil
}

func (p *Provider) cachedToolbox(id string) (toolboxRef, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.boxes[id]; b != nil && b.toolbox.url != "" {
		return b.toolbox, true
	}
	return toolboxRef{}, false
}

// toolbox returns the toolbox of a started sandbox, from the cache when it
// can; a sandbox that is not started wraps sandbox.ErrNotRunning.
func (p *Provider) toolbox(ctx context.Context, id string) (toolboxRef, error) {
	if ref, ok := p.cachedToolbox(id); ok {
		return ref, nil
	}
	d, err := p.get(ctx, id)
	if err != nil {
		return toolboxRef{}, err
	}
	if d.State != "started" {
		return toolboxRef{}, fmt.Errorf("sandbox %s is %s: %w", id, d.State, sandbox.ErrNotRunning)
	}
	return p.toolboxOf(ctx, d)
}

// tb sends c to the sandbox's toolbox. When it fails, the sandbox's state
// explains why if it can: a sandbox that stopped or vanished meanwhile
// (Daytona's auto-stop) gives ErrNotRunning or ErrNotFound rather than a
// proxy error.
func (p *Provider) tb(ctx context.Context, id string, c call) (int, []byte, error) {
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	c.base = b.url
	status, body, err := p.do(ctx, c)
	if err == nil {
		return status, body, nil
	}
	if ctx.Err() != nil {
		return 0, nil, err
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		switch apiErr.Status {
		case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict:
			// The daemon itself answered: the sandbox runs.
			return 0, nil, err
		}
	}
	d, gerr := p.get(ctx, id)
	if gerr != nil {
		if errors.Is(gerr, sandbox.ErrNotFound) {
			p.forget(id)
			return 0, nil, gerr
		}
		return 0, nil, err
	}
	if d.State != "started" {
		// Its sessions, PTYs and preview token went with the stop.
		p.forget(id)
		return 0, nil, fmt.Errorf("sandbox %s is %s: %w", id, d.State, sandbox.ErrNotRunning)
	}
	return 0, nil, err
}

// tbJSON is tb with a JSON body and answer.
func (p *Provider) tbJSON(ctx context.Context, id string, c call, in, out any) error {
	c, err := withJSON(c, in)
	if err != nil {
		return err
	}
	_, body, err := p.tb(ctx, id, c)
	if err != nil {
		return err
	}
	return decodeJSON(c, body, out)
}

// Exec implements sandbox.Provider with /process/execute in the
// workspace. The command runs under sh -c as on the local engine (the
// daemon would pick zsh or bash otherwise).
func (p *Provider) Exec(ctx context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = p.execTimeout
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	// The daemon enforces the timeout; the margin only guards against a
	// proxy that never answers.
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	in := struct {
		Command string `json:"command"`
		Cwd     string `json:"cwd"`
		Timeout int    `json:"timeout"`
	}{Command: "sh -c " + shellQuote(req.Command), Cwd: b.workDir + "/" + p.workspace, Timeout: secs}
	var out struct {
		ExitCode int    `json:"exitCode"`
		Result   string `json:"result"`
	}
	err = p.tbJSON(ctx, id, call{method: http.MethodPost, path: "/process/execute"}, in, &out)
	if isStatus(err, http.StatusRequestTimeout) {
		return sandbox.ExecResult{ExitCode: -1, TimedOut: true}, nil
	}
	if err != nil {
		return sandbox.ExecResult{}, fmt.Errorf("exec in sandbox %s: %w", id, err)
	}
	res := sandbox.ExecResult{ExitCode: out.ExitCode, Output: out.Result}
	if len(res.Output) > execOutputLimit {
		res.Output = strings.ToValidUTF8(res.Output[len(res.Output)-execOutputLimit:], "")
		res.Truncated = true
	}
	return res, nil
}

// shellQuote quotes s as one POSIX shell word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
