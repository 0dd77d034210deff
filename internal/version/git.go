package version

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Versions are kept with the git binary rather than a Go library: its
// plumbing builds commits without a work tree (so no path the sandbox
// controls is ever followed), and bundles, archives, http-backend and push
// with every transport come with it. go-git would be a large dependency that
// still lacks some of these. git is installed on every machine QuickVibe
// supports (scripts/install-deps.sh).

// git runs git commands against one bare repository with an environment
// that owes nothing to the host user's configuration.
type git struct {
	dir  string // the bare repository
	home string // an empty directory, so no ~/.gitconfig is read
}

// gitError is a failed git command; Stderr stays in logs.
type gitError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Stderr))
}

func (e *gitError) Unwrap() error { return e.Err }

// cmdOpts adjusts one git call.
type cmdOpts struct {
	stdin  io.Reader
	stdout io.Writer // default: captured and returned
	env    []string  // added to the base environment
}

func (g git) env(extra []string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + g.home,
		"GIT_DIR=" + g.dir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"LC_ALL=C",
		"TZ=UTC",
	}
	return append(env, extra...)
}

func (g git) cmd(ctx context.Context, o cmdOpts, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = g.env(o.env)
	cmd.Dir = g.dir
	cmd.Stdin = o.stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs git and returns its stdout.
func (g git) run(ctx context.Context, o cmdOpts, args ...string) ([]byte, error) {
	cmd := g.cmd(ctx, o, args...)
	var stdout, stderr bytes.Buffer
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	} else {
		cmd.Stdout = &stdout
	}
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &gitError{Args: args, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// line runs git and returns its stdout's first line.
func (g git) line(ctx context.Context, args ...string) (string, error) {
	out, err := g.run(ctx, cmdOpts{}, args...)
	if err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(out), "\n")
	return s, nil
}

// exitCode is the exit status of a failed git command, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
