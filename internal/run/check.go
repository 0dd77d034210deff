package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/project"
)

// buildErrorRE finds build and runtime errors in dev-server output: Vite and
// esbuild, TypeScript, Node, Python.
var buildErrorRE = regexp.MustCompile(`(?m)^.*(\[vite\] Internal server error|\[plugin:[^\]]+\]|Failed to resolve import|Transform failed|error TS\d+|SyntaxError|ReferenceError|TypeError|Error: Cannot find module|Traceback \(most recent call last\)|EADDRINUSE|Uncaught|npm ERR!|npm error).*$`)

// scriptRE finds what runs JavaScript in an HTML page: script elements
// (inline, external or modules) and inline event handlers.
var scriptRE = regexp.MustCompile(`(?i)<script|\son[a-z]+\s*=`)

// errorPageRE finds error pages served instead of the app.
var errorPageRE = regexp.MustCompile(`(?i)(Internal Server Error|Traceback \(most recent call last\)|\[plugin:vite|Cannot GET /|<title>Error</title>|SyntaxError:|ReferenceError:|Error: Cannot find module)`)

// checkApp (re)starts the dev server and checks the app: the process is up
// and its port answers, the page is not an error page, the dev-server
// output holds no build error, the page loads in a browser without errors
// (browsercheck.go), and the preview's pages reported no browser errors.
// It returns the problems for the agent to fix; an error means the
// run cannot go on (cancelled, sandbox gone).
func (m *Manager) checkApp(ctx context.Context, em *emitter, sandboxID string, pt project.Type, logger *slog.Logger) ([]string, error) {
	stopLogs := m.followDevServerLogs(ctx, em, sandboxID, logger)
	err := m.startDevServer(ctx, sandboxID, pt)
	stopLogs()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if se, ok := errors.AsType[*stepError](err); ok && se.code == events.CodeDevServer {
			// The model can fix a server that does not start.
			return []string{se.msg}, nil
		}
		return nil, err
	}
	var problems []string
	problem, scripted := m.checkPage(ctx, sandboxID, pt.Port)
	if problem != "" {
		problems = append(problems, problem)
	}
	// Only a page that served well and runs scripts is worth a browser: an
	// API's JSON or plain HTML cannot throw, and an error page is fixed
	// first. The project type does not decide: an api project may serve a
	// page, and a website may have no script at all.
	if problem == "" && scripted && m.cfg.Browser != nil {
		if errs := m.browserErrorsOnLoad(ctx, sandboxID, pt.Port, logger); len(errs) > 0 {
			problems = append(problems, pageErrorsProblem(errs))
		}
	}
	if st, err := m.sandboxes.Process(ctx, sandboxID, devServerName); err == nil {
		if !st.Running {
			problems = append(problems, fmt.Sprintf("The dev server exited with code %d. Its last output:\n%s", st.ExitCode, lastLines(st.OutputTail, 20)))
		} else if lines := buildErrorRE.FindAllString(st.OutputTail, 10); len(lines) > 0 {
			problems = append(problems, "The dev server output shows errors:\n"+strings.Join(lines, "\n"))
		}
	}
	// Reports from a preview open while the dev server (re)started.
	if errs := m.browserErrorsSinceCheck(sandboxID); len(errs) > 0 {
		problems = append(problems, "The browser reported errors on the preview page:\n"+strings.Join(errs, "\n"))
	}
	return problems, nil
}

// checkPage fetches / from the dev server inside the sandbox and describes
// what is wrong with it, or returns ""; scripted says whether it served an
// HTML page that runs scripts.
func (m *Manager) checkPage(ctx context.Context, sandboxID string, port int) (problem string, scripted bool) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := m.sandboxes.DialPort(ctx, sandboxID, port)
	if err != nil {
		return fmt.Sprintf("Port %d stopped answering right after the dev server started: %v", port, err), false
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://localhost:%d/", port), nil)
	if err != nil {
		return "", false
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Connection", "close")
	// The port answered; a server that then does not speak HTTP (a game
	// socket, a stub in tests) is not an error of the app.
	if err := req.Write(conn); err != nil {
		return "", false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	const maxBody = 256 << 10
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 400 {
		return fmt.Sprintf("GET / answered %d %s:\n%s", resp.StatusCode, http.StatusText(resp.StatusCode), lastLines(string(body), 15)), false
	}
	if loc := errorPageRE.FindIndex(body); loc != nil {
		return "GET / served an error page:\n" + excerpt(string(body), loc[0]), false
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	// A page cut off at the limit may have scripts further on.
	return "", mt == "text/html" && (len(body) == maxBody || scriptRE.Match(body))
}

func excerpt(s string, at int) string {
	from, to := max(at-200, 0), min(at+600, len(s))
	return s[from:to]
}
