// Package sandboxtest is the contract every sandbox engine must meet: one
// suite of subtests, run against each engine (bubblewrap for real, Daytona
// against its test double), asserting what sandbox.go documents and what
// the bubblewrap engine does. Where engines may differ the difference is
// an Options field, never a skip.
package sandboxtest

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Options name what an engine is allowed to do differently.
type Options struct {
	// UsageSources are the Usage.Source values the engine may report
	// (default: "cgroup", "procfs", "cgroup+procfs").
	UsageSources []string
	// StoppedUsageNotRunning says Usage of a stopped sandbox fails with
	// sandbox.ErrNotRunning instead of reporting DiskBytes (an engine
	// that can only measure from inside the sandbox).
	StoppedUsageNotRunning bool
	// ServeCommand starts an HTTP server on 127.0.0.1:3000 in the sandbox
	// serving the working directory (default: the toolbox's static server,
	// "qv-serve --port 3000 --dir .").
	ServeCommand string
}

func (o Options) withDefaults() Options {
	if len(o.UsageSources) == 0 {
		o.UsageSources = []string{"cgroup", "procfs", "cgroup+procfs"}
	}
	o.ServeCommand = cmp.Or(o.ServeCommand, "qv-serve --port 3000 --dir .")
	return o
}

// Run runs the contract with default Options.
func Run(t *testing.T, newProvider func(t *testing.T) sandbox.Provider) {
	RunWith(t, Options{}, newProvider)
}

// RunWith runs the contract. newProvider is called once; every subtest
// makes its own sandboxes on that engine.
func RunWith(t *testing.T, opts Options, newProvider func(t *testing.T) sandbox.Provider) {
	opts = opts.withDefaults()
	p := newProvider(t)
	if err := p.Ready(t.Context()); err != nil {
		t.Fatalf("engine %s not ready: %v", p.Name(), err)
	}
	c := &contract{p: p, opts: opts}
	t.Run("Lifecycle", c.lifecycle)
	t.Run("UnknownSandbox", c.unknownSandbox)
	t.Run("Exec", c.exec)
	t.Run("ExecTimeout", c.execTimeout)
	t.Run("Files", c.files)
	t.Run("FileErrors", c.fileErrors)
	t.Run("BackgroundProcess", c.backgroundProcess)
	t.Run("ProcessLogsFollow", c.processLogsFollow)
	t.Run("ProcessReplace", c.processReplace)
	t.Run("ProcessRestart", c.processRestart)
	t.Run("Terminal", c.terminal)
	t.Run("DialPort", c.dialPort)
	t.Run("Usage", c.usage)
}

type contract struct {
	p    sandbox.Provider
	opts Options
}

// create makes a sandbox that is deleted when the test ends.
func (c *contract) create(t *testing.T, labels map[string]string) sandbox.Info {
	t.Helper()
	info, err := c.p.Create(t.Context(), sandbox.Spec{Labels: labels})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.p.Delete(ctx, info.ID); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("cleanup: Delete(%s): %v", info.ID, err)
		}
	})
	return info
}

func (c *contract) run(t *testing.T, id, command string) sandbox.ExecResult {
	t.Helper()
	res, err := c.p.Exec(t.Context(), id, sandbox.ExecRequest{Command: command, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Exec(%q): %v", command, err)
	}
	return res
}

func (c *contract) lifecycle(t *testing.T) {
	ctx := t.Context()
	labels := map[string]string{"project": "p-contract", "user": "u-1"}
	before := time.Now()
	info := c.create(t, labels)
	if info.ID == "" || info.State != sandbox.StateRunning {
		t.Fatalf("Create = %+v, want an id and state running", info)
	}
	if diff := gocmp.Diff(labels, info.Labels); diff != "" {
		t.Errorf("Create labels (-want +got):\n%s", diff)
	}
	if info.CreatedAt.Before(before.Add(-time.Minute)) || info.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("CreatedAt = %s, want about %s", info.CreatedAt, before)
	}
	got, err := c.p.Get(ctx, info.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := gocmp.Diff(info, got, gocmpTimeApprox); diff != "" {
		t.Errorf("Get after Create (-create +get):\n%s", diff)
	}
	list, err := c.p.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	i := slices.IndexFunc(list, func(in sandbox.Info) bool { return in.ID == info.ID })
	if i < 0 {
		t.Fatalf("List does not hold %s: %+v", info.ID, list)
	}
	if diff := gocmp.Diff(labels, list[i].Labels); diff != "" {
		t.Errorf("List labels (-want +got):\n%s", diff)
	}

	// Stop keeps the workspace; Start resumes it.
	if err := c.p.WriteFile(ctx, info.ID, "keep/me.txt", []byte("kept")); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := c.p.Stop(ctx, info.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got, err := c.p.Get(ctx, info.ID); err != nil || got.State != sandbox.StateStopped {
		t.Errorf("Get after Stop = %+v, %v; want state stopped", got, err)
	}
	if _, err := c.p.Exec(ctx, info.ID, sandbox.ExecRequest{Command: "true"}); !errors.Is(err, sandbox.ErrNotRunning) {
		t.Errorf("Exec on a stopped sandbox: err = %v, want ErrNotRunning", err)
	}
	if err := c.p.Start(ctx, info.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := c.p.Start(ctx, info.ID); err != nil {
		t.Errorf("Start of a running sandbox: %v, want a no-op", err)
	}
	if got, err := c.p.Get(ctx, info.ID); err != nil || got.State != sandbox.StateRunning {
		t.Errorf("Get after Start = %+v, %v; want state running", got, err)
	}
	if res := c.run(t, info.ID, "cat keep/me.txt"); res.Output != "kept" {
		t.Errorf("file after stop/start: %q, want kept", res.Output)
	}

	if err := c.p.Delete(ctx, info.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.p.Get(ctx, info.ID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := c.p.Delete(ctx, info.ID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	list, err = c.p.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if slices.ContainsFunc(list, func(in sandbox.Info) bool { return in.ID == info.ID }) {
		t.Errorf("List still holds deleted %s", info.ID)
	}
}

// gocmpTimeApprox lets times differ by the precision engines store.
var gocmpTimeApprox = gocmp.Comparer(func(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Second && d > -time.Second
})

func (c *contract) unknownSandbox(t *testing.T) {
	ctx := t.Context()
	// Real ids of deleted sandboxes, so every engine parses them.
	info := c.create(t, nil)
	if err := c.p.Delete(ctx, info.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	id := info.ID
	calls := map[string]func() error{
		"Get":       func() error { _, err := c.p.Get(ctx, id); return err },
		"Start":     func() error { return c.p.Start(ctx, id) },
		"Stop":      func() error { return c.p.Stop(ctx, id) },
		"Delete":    func() error { return c.p.Delete(ctx, id) },
		"Exec":      func() error { _, err := c.p.Exec(ctx, id, sandbox.ExecRequest{Command: "true"}); return err },
		"WriteFile": func() error { return c.p.WriteFile(ctx, id, "x", nil) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("%s on a deleted sandbox: err = %v, want ErrNotFound", name, err)
		}
	}
}

func (c *contract) exec(t *testing.T) {
	id := c.create(t, nil).ID
	if err := c.p.WriteFile(t.Context(), id, "here.txt", []byte("in the workspace\n")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		command string
		want    sandbox.ExecResult
	}{
		{"output", "echo hi", sandbox.ExecResult{Output: "hi\n"}},
		{"exit code", "exit 3", sandbox.ExecResult{ExitCode: 3}},
		{"stdout and stderr combined", "echo out; echo err >&2; exit 1", sandbox.ExecResult{ExitCode: 1, Output: "out\nerr\n"}},
		{"runs in the workspace", "cat here.txt", sandbox.ExecResult{Output: "in the workspace\n"}},
		{"shell syntax", "for i in 1 2; do printf '%s,' $i; done | tr , -", sandbox.ExecResult{Output: "1-2-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := gocmp.Diff(tt.want, c.run(t, id, tt.command)); diff != "" {
				t.Errorf("Exec(%q) (-want +got):\n%s", tt.command, diff)
			}
		})
	}
}

func (c *contract) execTimeout(t *testing.T) {
	id := c.create(t, nil).ID
	start := time.Now()
	res, err := c.p.Exec(t.Context(), id, sandbox.ExecRequest{Command: "sleep 60", Timeout: time.Second})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if !res.TimedOut {
		t.Errorf("Exec(sleep 60) with a 1s timeout = %+v, want TimedOut", res)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("timed-out Exec returned after %s", d)
	}
	// The sandbox still works.
	if res := c.run(t, id, "echo alive"); res.Output != "alive\n" {
		t.Errorf("Exec after a timeout: %+v", res)
	}
}

func (c *contract) files(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	content := []byte("package main\n\nfunc main() {}\n")
	if err := c.p.WriteFile(ctx, id, "src/app/main.go", content); err != nil {
		t.Fatalf("WriteFile with missing parents: %v", err)
	}
	got, err := c.p.ReadFile(ctx, id, "src/app/main.go")
	if err != nil || string(got) != string(content) {
		t.Fatalf("ReadFile = %q, %v; want %q", got, err, content)
	}
	// Replace and an empty file.
	if err := c.p.WriteFile(ctx, id, "src/app/main.go", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.p.ReadFile(ctx, id, "src/app/main.go"); err != nil || string(got) != "v2" {
		t.Errorf("ReadFile after replace = %q, %v", got, err)
	}
	if err := c.p.WriteFile(ctx, id, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.p.ReadFile(ctx, id, "empty"); err != nil || len(got) != 0 {
		t.Errorf("ReadFile(empty) = %q, %v", got, err)
	}
	// The sandbox sees what the host wrote, and the other way round.
	if res := c.run(t, id, "cat src/app/main.go; echo made > src/made.txt"); res.Output != "v2" {
		t.Errorf("cat inside = %q, want v2", res.Output)
	}

	type entry struct {
		Path  string
		Size  int64
		IsDir bool
	}
	list := func(dir string) []entry {
		t.Helper()
		files, err := c.p.ListFiles(ctx, id, dir)
		if err != nil {
			t.Fatalf("ListFiles(%q): %v", dir, err)
		}
		var out []entry
		for _, f := range files {
			e := entry{Path: f.Path, IsDir: f.IsDir}
			if !f.IsDir {
				e.Size = f.Size
			}
			if f.ModTime.IsZero() {
				t.Errorf("ListFiles(%q): %s has no ModTime", dir, f.Path)
			}
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.Path, b.Path) })
		return out
	}
	want := []entry{
		{Path: "empty"},
		{Path: "src", IsDir: true},
		{Path: "src/app", IsDir: true},
		{Path: "src/app/main.go", Size: 2},
		{Path: "src/made.txt", Size: 5},
	}
	for _, dir := range []string{"", "."} {
		if diff := gocmp.Diff(want, list(dir)); diff != "" {
			t.Errorf("ListFiles(%q) (-want +got):\n%s", dir, diff)
		}
	}
	if diff := gocmp.Diff(want[2:], list("src")); diff != "" {
		t.Errorf("ListFiles(src): paths are relative to the workspace root (-want +got):\n%s", diff)
	}

	if err := c.p.DeleteFile(ctx, id, "src/made.txt"); err != nil {
		t.Fatalf("DeleteFile(file): %v", err)
	}
	if _, err := c.p.ReadFile(ctx, id, "src/made.txt"); !isNotExist(err) {
		t.Errorf("ReadFile after DeleteFile: err = %v, want not found", err)
	}
	if err := c.p.DeleteFile(ctx, id, "src"); err != nil {
		t.Fatalf("DeleteFile(dir): %v", err)
	}
	if diff := gocmp.Diff([]entry{{Path: "empty"}}, list("")); diff != "" {
		t.Errorf("ListFiles after deleting src (-want +got):\n%s", diff)
	}
}

// isNotExist accepts the two ways engines say a file is missing.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, sandbox.ErrNotFound)
}

func (c *contract) fileErrors(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	if err := c.p.WriteFile(ctx, id, "dir/file", []byte("x")); err != nil {
		t.Fatal(err)
	}
	escapes := []string{"../x", "/etc/passwd", "a/../../x", "dir/../../x"}
	for _, p := range escapes {
		if _, err := c.p.ReadFile(ctx, id, p); !errors.Is(err, sandbox.ErrPathEscapes) {
			t.Errorf("ReadFile(%q): err = %v, want ErrPathEscapes", p, err)
		}
		if err := c.p.WriteFile(ctx, id, p, []byte("x")); !errors.Is(err, sandbox.ErrPathEscapes) {
			t.Errorf("WriteFile(%q): err = %v, want ErrPathEscapes", p, err)
		}
		if err := c.p.DeleteFile(ctx, id, p); !errors.Is(err, sandbox.ErrPathEscapes) {
			t.Errorf("DeleteFile(%q): err = %v, want ErrPathEscapes", p, err)
		}
		if _, err := c.p.ListFiles(ctx, id, p); !errors.Is(err, sandbox.ErrPathEscapes) {
			t.Errorf("ListFiles(%q): err = %v, want ErrPathEscapes", p, err)
		}
	}
	if _, err := c.p.ReadFile(ctx, id, "missing.txt"); !isNotExist(err) {
		t.Errorf("ReadFile(missing): err = %v, want fs.ErrNotExist or sandbox.ErrNotFound", err)
	}
	if err := c.p.DeleteFile(ctx, id, "missing.txt"); !isNotExist(err) {
		t.Errorf("DeleteFile(missing): err = %v, want fs.ErrNotExist or sandbox.ErrNotFound", err)
	}
	if _, err := c.p.ReadFile(ctx, id, "dir"); !errors.Is(err, sandbox.ErrIsDirectory) {
		t.Errorf("ReadFile(dir): err = %v, want ErrIsDirectory", err)
	}
}

// logs returns every kept line of a process.
func (c *contract) logs(t *testing.T, id string, req sandbox.LogsRequest) []sandbox.LogLine {
	t.Helper()
	var out []sandbox.LogLine
	if err := c.p.ProcessLogs(t.Context(), id, req, func(l sandbox.LogLine) error {
		out = append(out, l)
		return nil
	}); err != nil {
		t.Fatalf("ProcessLogs(%+v): %v", req, err)
	}
	return out
}

// waitExit polls until the process is not running.
func (c *contract) waitExit(t *testing.T, id, name string) sandbox.ProcessStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.p.Process(t.Context(), id, name)
		if err != nil {
			t.Fatalf("Process(%s): %v", name, err)
		}
		if !st.Running {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still running: %+v", name, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func texts(lines []sandbox.LogLine, stream string) []string {
	var out []string
	for _, l := range lines {
		if stream == "" && l.Stream != "system" || l.Stream == stream {
			out = append(out, l.Line)
		}
	}
	return out
}

func (c *contract) backgroundProcess(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	if _, err := c.p.Process(ctx, id, "never-started"); !errors.Is(err, sandbox.ErrNoProcess) {
		t.Errorf("Process(unknown): err = %v, want ErrNoProcess", err)
	}
	if err := c.p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "job", Command: "for i in 1 2 3 4 5; do echo line$i; done; exit 4"}); err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	st := c.waitExit(t, id, "job")
	if st.Name != "job" || st.ExitCode != 4 || st.Restarts != 0 {
		t.Errorf("Process after exit = %+v, want name job, exit code 4, no restarts", st)
	}
	if !strings.Contains(st.OutputTail, "line5") {
		t.Errorf("OutputTail = %q, want it to hold line5", st.OutputTail)
	}

	all := c.logs(t, id, sandbox.LogsRequest{Name: "job"})
	if diff := gocmp.Diff([]string{"line1", "line2", "line3", "line4", "line5"}, texts(all, "")); diff != "" {
		t.Errorf("process output lines (-want +got):\n%s", diff)
	}
	for i, l := range all {
		if i > 0 && l.Seq != all[i-1].Seq+1 {
			t.Errorf("Seq of line %d = %d after %d, want +1", i, l.Seq, all[i-1].Seq)
		}
		if l.Time.IsZero() || !slices.Contains([]string{"stdout", "stderr", "system"}, l.Stream) {
			t.Errorf("line %+v: want a time and a known stream", l)
		}
	}
	if len(all) < 3 {
		t.Fatalf("only %d lines", len(all))
	}
	if diff := gocmp.Diff(all[2:], c.logs(t, id, sandbox.LogsRequest{Name: "job", After: all[1].Seq})); diff != "" {
		t.Errorf("After=%d (-want +got):\n%s", all[1].Seq, diff)
	}
	if diff := gocmp.Diff(all[len(all)-2:], c.logs(t, id, sandbox.LogsRequest{Name: "job", Limit: 2})); diff != "" {
		t.Errorf("Limit=2 (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(all[len(all)-1:], c.logs(t, id, sandbox.LogsRequest{Name: "job", After: all[0].Seq, Limit: 1})); diff != "" {
		t.Errorf("After and Limit (-want +got):\n%s", diff)
	}
	if err := c.p.ProcessLogs(ctx, id, sandbox.LogsRequest{Name: "never-started"}, func(sandbox.LogLine) error { return nil }); !errors.Is(err, sandbox.ErrNoProcess) {
		t.Errorf("ProcessLogs(unknown): err = %v, want ErrNoProcess", err)
	}
	// An error of fn ends the walk and is returned.
	stop := errors.New("enough")
	calls := 0
	err := c.p.ProcessLogs(ctx, id, sandbox.LogsRequest{Name: "job"}, func(sandbox.LogLine) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ProcessLogs with failing fn: err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func (c *contract) processLogsFollow(t *testing.T) {
	id := c.create(t, nil).ID
	if err := c.p.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "ticker", Command: "echo f1; sleep 0.5; echo f2; sleep 0.5; echo f3; sleep 60"}); err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []string
	err := c.p.ProcessLogs(ctx, id, sandbox.LogsRequest{Name: "ticker", Follow: true}, func(l sandbox.LogLine) error {
		if l.Stream != "system" {
			got = append(got, l.Line)
		}
		if l.Line == "f3" {
			cancel()
		}
		return nil
	})
	if ctx.Err() == nil || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Follow ended before f3 (err %v); got %q", err, got)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Follow ended by cancel: err = %v, want nil or context.Canceled", err)
	}
	if diff := gocmp.Diff([]string{"f1", "f2", "f3"}, got); diff != "" {
		t.Errorf("followed lines (-want +got):\n%s", diff)
	}
}

func (c *contract) processReplace(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	if err := c.p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "svc", Command: "echo first; sleep 60"}); err != nil {
		t.Fatal(err)
	}
	if st, err := c.p.Process(ctx, id, "svc"); err != nil || !st.Running {
		t.Fatalf("Process after start = %+v, %v; want running", st, err)
	}
	if err := c.p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "svc", Command: "echo second; exit 0"}); err != nil {
		t.Fatalf("replacing StartProcess: %v", err)
	}
	st := c.waitExit(t, id, "svc")
	if st.ExitCode != 0 || !strings.Contains(st.OutputTail, "second") {
		t.Errorf("replaced process = %+v, want exit 0 with output second", st)
	}
	countSleeps := `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f"; echo; done 2>/dev/null | grep -c '^sleep 60' || true`
	if res := c.run(t, id, countSleeps); res.Output != "0\n" {
		t.Errorf("the replaced process still runs: %q sleep processes", res.Output)
	}
}

func (c *contract) processRestart(t *testing.T) {
	id := c.create(t, nil).ID
	if err := c.p.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "crashy", Command: "echo out; echo err >&2; exit 1", Restart: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var st sandbox.ProcessStatus
	for {
		var err error
		st, err = c.p.Process(t.Context(), id, "crashy")
		if err != nil {
			t.Fatal(err)
		}
		// Two restarts: the second proves the first restart's run
		// finished, so its output is in the log.
		if st.Restarts >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Restarts < 2 {
		t.Fatalf("a crashing Restart process was not restarted twice: %+v", st)
	}
	lines := c.logs(t, id, sandbox.LogsRequest{Name: "crashy"})
	if out := texts(lines, "stdout"); len(out) < 2 || out[0] != "out" || out[1] != "out" {
		t.Errorf("stdout lines %q, want out once per run", out)
	}
	if errs := texts(lines, "stderr"); len(errs) < 2 || errs[0] != "err" {
		t.Errorf("stderr lines %q, want err on stream stderr once per run", errs)
	}
	if sys := texts(lines, "system"); len(sys) < 2 {
		t.Errorf("no system line about the exit and restart in %+v", lines)
	}
}

func (c *contract) terminal(t *testing.T) {
	id := c.create(t, nil).ID
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	term, err := c.p.OpenTerminal(ctx, id, 80, 24)
	if err != nil {
		t.Fatalf("OpenTerminal: %v", err)
	}
	defer term.Close()
	var out strings.Builder
	// waitFor reads output until it holds want; the input echo does not,
	// since want is computed by the shell.
	waitFor := func(want string) {
		t.Helper()
		for !strings.Contains(out.String(), want) {
			b, err := term.Output(ctx)
			if err != nil {
				t.Fatalf("Output while waiting for %q: %v; got %q", want, err, out.String())
			}
			out.Write(b)
		}
	}
	if err := term.Input(ctx, []byte("echo hi-$((40+2))\n")); err != nil {
		t.Fatalf("Input: %v", err)
	}
	waitFor("hi-42")
	if err := term.Resize(ctx, 100, 30); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	if err := term.Input(ctx, []byte("stty size | tr ' ' x\n")); err != nil {
		t.Fatal(err)
	}
	waitFor("30x100")
	if err := term.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func (c *contract) dialPort(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	if err := c.p.WriteFile(ctx, id, "index.html", []byte("<h1>contract</h1>")); err != nil {
		t.Fatal(err)
	}
	if conn, err := c.p.DialPort(ctx, id, 3000); err == nil {
		conn.Close()
		t.Fatal("DialPort(3000) succeeded before anything listened")
	}
	if err := c.p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "web", Command: c.opts.ServeCommand}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		body, err := c.get(ctx, id, 3000)
		if err == nil {
			if body != "<h1>contract</h1>" {
				t.Errorf("GET / through DialPort = %q", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port 3000 never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get does one HTTP/1.1 GET / over a DialPort connection.
func (c *contract) get(ctx context.Context, id string, port int) (string, error) {
	conn, err := c.p.DialPort(ctx, id, port)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n", port); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET / answered %s", resp.Status)
	}
	return string(b), nil
}

func (c *contract) usage(t *testing.T) {
	ctx := t.Context()
	id := c.create(t, nil).ID
	if err := c.p.WriteFile(ctx, id, "blob.bin", make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if err := c.p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "idle", Command: "sleep 60"}); err != nil {
		t.Fatal(err)
	}
	u, err := c.p.Usage(ctx, id)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.MemoryBytes <= 0 || u.MemoryBytes > 64<<30 {
		t.Errorf("MemoryBytes = %d, want a positive, plausible value", u.MemoryBytes)
	}
	if u.PIDs < 2 || u.PIDs > 10000 {
		t.Errorf("PIDs = %d, want at least the toolbox or shell and sleep", u.PIDs)
	}
	if u.CPUTime < 0 || u.CPUTime > time.Hour {
		t.Errorf("CPUTime = %s, want a small non-negative value", u.CPUTime)
	}
	if u.DiskBytes < 256<<10 {
		t.Errorf("DiskBytes = %d, want at least the 256 KiB written", u.DiskBytes)
	}
	if !slices.Contains(c.opts.UsageSources, u.Source) {
		t.Errorf("Source = %q, want one of %q", u.Source, c.opts.UsageSources)
	}

	if err := c.p.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	u, err = c.p.Usage(ctx, id)
	if c.opts.StoppedUsageNotRunning {
		if !errors.Is(err, sandbox.ErrNotRunning) {
			t.Errorf("Usage of a stopped sandbox: %+v, %v; want ErrNotRunning", u, err)
		}
		return
	}
	if err != nil || u.DiskBytes < 256<<10 {
		t.Errorf("Usage of a stopped sandbox = %+v, %v; want DiskBytes of at least 256 KiB", u, err)
	}
}
