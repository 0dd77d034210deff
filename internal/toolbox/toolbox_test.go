package toolbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

func TestMain(m *testing.M) {
	DispatchIfToolbox()
	os.Exit(m.Run())
}

// startServer runs an in-process toolbox on a Unix socket, with dir as the
// working directory of its commands.
func startServer(t *testing.T) (*Client, string) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(t.TempDir(), "tb.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ServerConfig{Dir: dir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	hs := &http.Server{Handler: srv.Handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	c := NewUnixClient(sock)
	t.Cleanup(func() {
		c.Close()
		hs.Close()
		<-done
		srv.Close()
	})
	return c, dir
}

func TestExec(t *testing.T) {
	c, _ := startServer(t)
	tests := []struct {
		name    string
		command string
		want    sandbox.ExecResult
	}{
		{"output", "echo hi", sandbox.ExecResult{Output: "hi\n"}},
		{"exit code", "exit 3", sandbox.ExecResult{ExitCode: 3}},
		{"stdout and stderr combined", "echo out; echo err >&2; exit 1", sandbox.ExecResult{ExitCode: 1, Output: "out\nerr\n"}},
		{"signal exit code", "kill -9 $$", sandbox.ExecResult{ExitCode: 137}},
		{"stdin is empty", "cat; echo done", sandbox.ExecResult{Output: "done\n"}},
		{"minimal env", "echo $PATH $HOME $USER $LANG $TERM", sandbox.ExecResult{
			Output: "/opt/quickvibe/bin:/usr/local/bin:/usr/bin:/bin /workspace sandbox C.UTF-8 xterm-256color\n"}},
		{"stray children do not hold up the result", "sleep 60 & echo started", sandbox.ExecResult{Output: "started\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := c.Exec(t.Context(), sandbox.ExecRequest{Command: tt.command, Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Exec(%q) mismatch (-want +got):\n%s", tt.command, diff)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Exec(%q) took %s", tt.command, d)
			}
		})
	}
}

func TestExecEnvDoesNotLeakToolboxEnv(t *testing.T) {
	t.Setenv("QV_TOOLBOX_CANARY", "canary-3141")
	c, _ := startServer(t)
	got, err := c.Exec(t.Context(), sandbox.ExecRequest{Command: "env"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(got.Output), "\n") {
		if !strings.HasPrefix(l, "PWD=") { // added by sh itself
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	want := Env()
	slices.Sort(want)
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("command environment mismatch (-want +got):\n%s", diff)
	}
}

func TestExecOutputKeepsTail(t *testing.T) {
	c, _ := startServer(t)
	got, err := c.Exec(t.Context(), sandbox.ExecRequest{Command: "head -c 100000 /dev/zero | tr '\\0' a; echo; echo END"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || len(got.Output) != ExecOutputLimit || !strings.HasSuffix(got.Output, "a\nEND\n") {
		t.Errorf("got Truncated=%v len=%d suffix %q; want truncated to %d bytes ending in END",
			got.Truncated, len(got.Output), got.Output[max(0, len(got.Output)-10):], ExecOutputLimit)
	}
}

// alive reports whether pid is a live process. Zombies count as dead: they
// wait for a reaper that is not the toolbox (orphans go to the host's pid 1,
// which may reap lazily).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone polls until pid is dead.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	c, dir := startServer(t)
	start := time.Now()
	got, err := c.Exec(t.Context(), sandbox.ExecRequest{
		Command: "sleep 60 & echo $! > bg.pid; echo $$ > sh.pid; sleep 60",
		Timeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timed-out exec took %s", d)
	}
	if diff := cmp.Diff(sandbox.ExecResult{ExitCode: 137, TimedOut: true}, got); diff != "" {
		t.Errorf("result mismatch (-want +got):\n%s", diff)
	}
	waitGone(t, readPID(t, filepath.Join(dir, "sh.pid")))
	waitGone(t, readPID(t, filepath.Join(dir, "bg.pid")))
}

func TestExecCancelKillsGroup(t *testing.T) {
	c, dir := startServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, sandbox.ExecRequest{Command: "sleep 60 & echo $! > bg.pid; echo $$ > sh.pid; sleep 60"})
		errc <- err
	}()
	shPID := readPID(t, filepath.Join(dir, "sh.pid"))
	bgPID := readPID(t, filepath.Join(dir, "bg.pid"))
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Exec after cancel: err = %v, want context.Canceled", err)
	}
	// The toolbox notices the closed connection and kills the group.
	waitGone(t, shPID)
	waitGone(t, bgPID)
}

func waitStopped(t *testing.T, c *Client, name string) sandbox.ProcessStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Process(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still running: %+v", name, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcesses(t *testing.T) {
	c, dir := startServer(t)
	ctx := t.Context()

	t.Run("crash reports exit code and output tail", func(t *testing.T) {
		if err := c.StartProcess(ctx, sandbox.ProcessRequest{Name: "crash", Command: "echo starting; echo boom >&2; exit 7"}); err != nil {
			t.Fatal(err)
		}
		got := waitStopped(t, c, "crash")
		want := sandbox.ProcessStatus{Name: "crash", ExitCode: 7, OutputTail: "starting\nboom\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("status mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("output tail is bounded", func(t *testing.T) {
		if err := c.StartProcess(ctx, sandbox.ProcessRequest{Name: "chatty", Command: "head -c 50000 /dev/zero | tr '\\0' x; echo; echo LAST"}); err != nil {
			t.Fatal(err)
		}
		got := waitStopped(t, c, "chatty")
		if len(got.OutputTail) != ProcessTailSize || !strings.HasSuffix(got.OutputTail, "x\nLAST\n") {
			t.Errorf("tail has %d bytes ending %q; want %d ending in LAST", len(got.OutputTail), got.OutputTail[max(0, len(got.OutputTail)-10):], ProcessTailSize)
		}
	})

	t.Run("replacing kills the old process group", func(t *testing.T) {
		err := c.StartProcess(ctx, sandbox.ProcessRequest{Name: "svc", Command: "sleep 60 & echo $! > child.pid; echo $$ > first.pid; echo first; wait"})
		if err != nil {
			t.Fatal(err)
		}
		first := readPID(t, filepath.Join(dir, "first.pid"))
		child := readPID(t, filepath.Join(dir, "child.pid"))
		if err := c.StartProcess(ctx, sandbox.ProcessRequest{Name: "svc", Command: "echo second; exec sleep 60"}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, first)
		waitGone(t, child)
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := c.Process(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sandbox.ProcessStatus{Name: "svc", Running: true, OutputTail: "second\n"}, st); diff == "" {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("status mismatch (-want +got):\n%s", diff)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("unknown process", func(t *testing.T) {
		if _, err := c.Process(ctx, "nope"); !errors.Is(err, ErrProcessNotFound) {
			t.Errorf("Process(nope) err = %v, want ErrProcessNotFound", err)
		}
	})

	t.Run("invalid name", func(t *testing.T) {
		if err := c.StartProcess(ctx, sandbox.ProcessRequest{Name: "../x", Command: "true"}); err == nil {
			t.Error("StartProcess with name ../x succeeded")
		}
	})
}

// greetingEchoServer greets every connection, then echoes until EOF and
// closes.
func greetingEchoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("greeting\n"))
			_, _ = io.Copy(conn, conn)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

func TestDialPort(t *testing.T) {
	c, _ := startServer(t)
	ctx := t.Context()

	t.Run("bytes both ways with half-close", func(t *testing.T) {
		port := greetingEchoServer(t)
		conn, err := c.DialPort(ctx, port)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		// The echo server only finishes when it sees our EOF, so the
		// remaining bytes arrive only if the half-close got through.
		if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("greeting\nhello", string(got)); diff != "" {
			t.Errorf("read mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("closed port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, err = c.DialPort(ctx, port)
		if !errors.Is(err, ErrPortNotAnswering) {
			t.Errorf("DialPort(closed) err = %v, want ErrPortNotAnswering", err)
		}
	})

	t.Run("invalid port", func(t *testing.T) {
		if _, err := c.DialPort(ctx, 70000); err == nil || errors.Is(err, ErrPortNotAnswering) {
			t.Errorf("DialPort(70000) err = %v, want a non-retryable error", err)
		}
	})
}

func TestStaticHandlerServesFreshFiles(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(StaticHandler(dir))
	defer srv.Close()
	index := filepath.Join(dir, "index.html")

	get := func(lastModified string) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/", nil)
		if lastModified != "" {
			req.Header.Set("If-Modified-Since", lastModified)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if err := os.WriteFile(index, []byte("<h1>v1</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := get("")
	if body != "<h1>v1</h1>" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("first GET: body %q, Cache-Control %q", body, resp.Header.Get("Cache-Control"))
	}
	// Same second, same size: only a server that re-reads the file and
	// ignores conditional headers gets this right.
	if err := os.WriteFile(index, []byte("<h1>v2</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body = get(resp.Header.Get("Last-Modified"))
	if resp.StatusCode != http.StatusOK || body != "<h1>v2</h1>" {
		t.Errorf("second GET: %s %q, want 200 <h1>v2</h1>", resp.Status, body)
	}
}

// TestBinaryServe runs this test binary as `qv-toolbox serve`, the way a
// sandbox does, with an inherited listening socket.
func TestBinaryServe(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tb.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	lnFile, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	workdir := t.TempDir()
	cmd := exec.Command(exe, "serve", "--listen-fd", "3", "--dir", workdir)
	cmd.Args[0] = ToolboxName
	cmd.ExtraFiles = []*os.File{lnFile}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lnFile.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})

	c := NewUnixClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Exec(ctx, sandbox.ExecRequest{Command: "pwd; ls /proc/self/fd"})
	if err != nil {
		t.Fatal(err)
	}
	// Only stdin/out/err and ls's own directory fd: neither the inherited
	// listener nor any other fd of the toolbox reaches commands.
	if diff := cmp.Diff(sandbox.ExecResult{Output: workdir + "\n0\n1\n2\n3\n"}, got); diff != "" {
		t.Errorf("exec mismatch (-want +got):\n%s", diff)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		waited <- err // for the cleanup
		if err != nil {
			t.Errorf("toolbox exited with %v after SIGTERM, want success", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("toolbox did not exit after SIGTERM")
	}
}

// TestBinaryQvServe runs this test binary as qv-serve.
func TestBinaryQvServe(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from qv-serve"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--port", strconv.Itoa(port), "--dir", dir)
	cmd.Args[0] = ServeName
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(bufio.NewReader(resp.Body))
			resp.Body.Close()
			if string(b) != "hello from qv-serve" {
				t.Errorf("GET / = %q", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("qv-serve never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
