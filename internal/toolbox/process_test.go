package toolbox

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logLines(t *testing.T, c *Client, req sandbox.LogsRequest) []sandbox.LogLine {
	t.Helper()
	var lines []sandbox.LogLine
	if err := c.ProcessLogs(t.Context(), req, func(l sandbox.LogLine) error {
		lines = append(lines, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestSupervisedProcessRestartsWithItsLog(t *testing.T) {
	c, _ := startServer(t)
	err := c.StartProcess(t.Context(), sandbox.ProcessRequest{
		Name: "dev", Command: "echo started-$$; echo oops >&2; exit 3", Restart: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Backoff 0.5 s, then 1 s: two restarts within a few seconds.
	var lines []sandbox.LogLine
	waitFor(t, "two restarts and their output", 10*time.Second, func() bool {
		st, err := c.Process(t.Context(), "dev")
		if err != nil || st.Restarts < 2 {
			return false
		}
		lines = logLines(t, c, sandbox.LogsRequest{Name: "dev"})
		var out, errs int
		for _, l := range lines {
			switch l.Stream {
			case StreamStdout:
				out++
			case StreamStderr:
				errs++
			}
		}
		return out >= 3 && errs >= 3
	})
	var starts, oops, restarting int
	for i, l := range lines {
		if l.Seq != lines[0].Seq+int64(i) {
			t.Errorf("line %d has seq %d, want consecutive from %d", i, l.Seq, lines[0].Seq)
		}
		switch {
		case l.Stream == StreamStdout && strings.HasPrefix(l.Line, "started-"):
			starts++
		case l.Stream == StreamStderr && l.Line == "oops":
			oops++
		case l.Stream == StreamSystem && strings.HasPrefix(l.Line, "exited with code 3; restarting in"):
			restarting++
		}
	}
	if starts < 3 || oops < 3 || restarting < 2 {
		t.Errorf("got %d starts, %d stderr lines, %d restart notes, want >= 3, 3, 2; log: %+v", starts, oops, restarting, lines)
	}

	// A tail of the log, and the log after a position.
	tail := logLines(t, c, sandbox.LogsRequest{Name: "dev", Limit: 2})
	if len(tail) != 2 || tail[1].Seq < lines[len(lines)-1].Seq {
		t.Errorf("tail = %+v, want the last 2 lines", tail)
	}
	after := logLines(t, c, sandbox.LogsRequest{Name: "dev", After: lines[1].Seq})
	if len(after) == 0 || after[0].Seq != lines[2].Seq {
		t.Errorf("lines after %d start at %+v", lines[1].Seq, after)
	}

	// Replacing it with an unsupervised process ends the restarts; the
	// log carries on.
	if err := c.StartProcess(t.Context(), sandbox.ProcessRequest{Name: "dev", Command: "echo replaced; exit 0"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replacement to exit", 5*time.Second, func() bool {
		st, err := c.Process(t.Context(), "dev")
		return err == nil && !st.Running
	})
	st, _ := c.Process(t.Context(), "dev")
	if st.Restarts != 0 {
		t.Errorf("replacement restarts = %d", st.Restarts)
	}
	rest := logLines(t, c, sandbox.LogsRequest{Name: "dev", After: lines[len(lines)-1].Seq})
	found := false
	for _, l := range rest {
		found = found || l.Line == "replaced"
	}
	if !found {
		t.Errorf("log after replacement = %+v, want the line 'replaced'", rest)
	}
}

func TestProcessLogsFollow(t *testing.T) {
	c, _ := startServer(t)
	if err := c.StartProcess(t.Context(), sandbox.ProcessRequest{
		Name: "ticker", Command: "for i in 1 2 3 4 5; do echo tick-$i; sleep 0.1; done; sleep 60",
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []string
	errDone := errors.New("done")
	err := c.ProcessLogs(ctx, sandbox.LogsRequest{Name: "ticker", Follow: true}, func(l sandbox.LogLine) error {
		got = append(got, l.Line)
		if len(got) == 5 {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("follow ended with %v after %q", err, got)
	}
	if strings.Join(got, ",") != "tick-1,tick-2,tick-3,tick-4,tick-5" {
		t.Errorf("followed %q", got)
	}
	err = c.ProcessLogs(t.Context(), sandbox.LogsRequest{Name: "nope"}, func(sandbox.LogLine) error { return nil })
	if !errors.Is(err, sandbox.ErrNoProcess) {
		t.Errorf("logs of unknown process: %v, want ErrNoProcess", err)
	}
}

// readUntil collects terminal output until it contains want.
func readUntil(t *testing.T, term sandbox.Terminal, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	for !strings.Contains(out.String(), want) {
		b, err := term.Output(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v; output so far: %q", want, err, out.String())
		}
		out.Write(b)
	}
	return out.String()
}

func TestTerminal(t *testing.T) {
	c, dir := startServer(t)
	term, err := c.OpenTerminal(t.Context(), 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	// The shell runs in the workspace on a terminal of the asked size.
	if err := term.Input(t.Context(), []byte("stty size; pwd; echo TERM=$TERM\n")); err != nil {
		t.Fatal(err)
	}
	out := readUntil(t, term, "TERM=xterm-256color")
	if !strings.Contains(out, "24 80") || !strings.Contains(out, dir) {
		t.Errorf("output %q lacks the size 24 80 or the dir %s", out, dir)
	}
	if err := term.Resize(t.Context(), 132, 40); err != nil {
		t.Fatal(err)
	}
	if err := term.Input(t.Context(), []byte("stty size\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, term, "40 132")
	// exit ends the session with EOF.
	if err := term.Input(t.Context(), []byte("exit\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, err := term.Output(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after exit: %v, want io.EOF", err)
		}
	}
}
