package bwrap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The sandboxes run this test binary as their toolbox.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// newProvider returns an engine whose state dir is a fresh t.TempDir():
// root-owned and 0700 when the tests run as root, so the sandbox uid can
// not traverse it.
func newProvider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	p, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(t.Context()); err != nil {
		t.Fatalf("engine not ready: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func create(t *testing.T, p *Provider) string {
	t.Helper()
	start := time.Now()
	info, err := p.Create(t.Context(), sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created sandbox %s in %s", info.ID, time.Since(start).Round(time.Millisecond))
	return info.ID
}

func run(t *testing.T, p *Provider, id, command string) sandbox.ExecResult {
	t.Helper()
	res, err := p.Exec(t.Context(), id, sandbox.ExecRequest{Command: command, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Exec(%q): %v", command, err)
	}
	return res
}

func hostUID(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return sys.Uid, sys.Gid
}

func TestExec(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	if !idRE.MatchString(id) {
		t.Errorf("id %q does not match %s", id, idRE)
	}
	tests := []struct {
		name    string
		command string
		want    sandbox.ExecResult
	}{
		{"echo", "echo hi", sandbox.ExecResult{Output: "hi\n"}},
		{"nonzero exit", "exit 3", sandbox.ExecResult{ExitCode: 3}},
		{"stderr combined", "echo out; echo err >&2; exit 1", sandbox.ExecResult{ExitCode: 1, Output: "out\nerr\n"}},
		{"uid inside", "id -u; id -g; id -un", sandbox.ExecResult{Output: "1000\n1000\nsandbox\n"}},
		{"hostname", "hostname", sandbox.ExecResult{Output: "sandbox\n"}},
		{"working directory", "pwd", sandbox.ExecResult{Output: "/workspace\n"}},
		{"environment", "echo $PATH $HOME $USER $LANG", sandbox.ExecResult{Output: "/opt/quickvibe/bin:/usr/local/bin:/usr/bin:/bin /workspace sandbox C.UTF-8\n"}},
		{"no capabilities", "grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status | tr -d '\\t'",
			sandbox.ExecResult{Output: "CapPrm:0000000000000000\nCapEff:0000000000000000\nCapBnd:0000000000000000\nCapAmb:0000000000000000\n"}},
		{"no nested user namespaces", "unshare -U true 2>/dev/null || echo refused", sandbox.ExecResult{Output: "refused\n"}},
		{"/usr is read-only", "touch /usr/x 2>/dev/null || echo refused", sandbox.ExecResult{Output: "refused\n"}},
		{"root is read-only", "touch /etc/x 2>/dev/null || echo refused", sandbox.ExecResult{Output: "refused\n"}},
		{"/tmp is writable", "echo t > /tmp/x && cat /tmp/x", sandbox.ExecResult{Output: "t\n"}},
		{"sees only its own processes", "ls /proc | grep -c '^[0-9]' | awk '$1 < 10 {print \"few\"}'", sandbox.ExecResult{Output: "few\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, run(t, p, id, tt.command)); diff != "" {
				t.Errorf("Exec(%q) mismatch (-want +got):\n%s", tt.command, diff)
			}
		})
	}
}

func TestExecTimeoutKillsCommandAndChildren(t *testing.T) {
	t.Run("request timeout", func(t *testing.T) {
		p := newProvider(t, Config{})
		id := create(t, p)
		start := time.Now()
		res, err := p.Exec(t.Context(), id, sandbox.ExecRequest{
			Command: "sleep 100 & echo $! > bg.pid; sleep 100",
			Timeout: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("timed-out Exec took %s", d)
		}
		if diff := cmp.Diff(sandbox.ExecResult{ExitCode: 137, TimedOut: true}, res); diff != "" {
			t.Errorf("result mismatch (-want +got):\n%s", diff)
		}
		// The background child died with the group (bwrap's pid 1 reaps
		// it, so kill -0 fails once it is gone).
		got := run(t, p, id, "for i in $(seq 50); do kill -0 $(cat bg.pid) 2>/dev/null || { echo dead; exit; }; sleep 0.1; done; echo alive")
		if got.Output != "dead\n" {
			t.Errorf("background child after timeout: %q, want dead", got.Output)
		}
	})
	t.Run("engine default timeout", func(t *testing.T) {
		p := newProvider(t, Config{ExecTimeout: time.Second})
		id := create(t, p)
		res, err := p.Exec(t.Context(), id, sandbox.ExecRequest{Command: "sleep 100"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.TimedOut {
			t.Errorf("Exec without timeout under ExecTimeout=1s: %+v, want TimedOut", res)
		}
	})
}

func TestHostOwnership(t *testing.T) {
	p := newProvider(t, Config{})
	a, b := create(t, p), create(t, p)
	ma, err := p.readMeta(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := p.readMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if ma.UID < firstUID || mb.UID < firstUID || ma.UID == mb.UID {
			t.Errorf("sandbox uids %d and %d: want distinct uids >= %d", ma.UID, mb.UID, firstUID)
		}
	} else if ma.UID != os.Getuid() {
		t.Errorf("unprivileged engine gave sandbox uid %d, want own uid %d", ma.UID, os.Getuid())
	}

	// On the host, bwrap itself runs as the allocated uid, never root.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.instance(a).cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	wantUID := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", ma.UID, ma.UID, ma.UID, ma.UID)
	if !strings.Contains(string(status), wantUID) {
		t.Errorf("bwrap's host status lacks %q:\n%s", wantUID, status)
	}
	run(t, p, a, "touch made-inside && mkdir dir-inside")
	for _, name := range []string{"made-inside", "dir-inside"} {
		uid, gid := hostUID(t, filepath.Join(p.sandboxDir(a), "workspace", name))
		if int(uid) != ma.UID || int(gid) != ma.GID || (os.Geteuid() == 0 && uid == 0) {
			t.Errorf("%s is owned by %d:%d on the host, want %d:%d", name, uid, gid, ma.UID, ma.GID)
		}
	}
	// The state dir stays private.
	st, err := os.Stat(p.sandboxDir(a))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("sandbox dir mode %v, want 0700", st.Mode().Perm())
	}
}

func TestFiles(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()
	ws := filepath.Join(p.sandboxDir(id), "workspace")

	if err := p.WriteFile(ctx, id, "src/app/main.js", []byte("console.log(1)\n")); err != nil {
		t.Fatal(err)
	}
	got, err := p.ReadFile(ctx, id, "src/app/main.js")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "console.log(1)\n" {
		t.Errorf("ReadFile = %q", got)
	}

	// What the host writes belongs to the sandbox, which can change it.
	res := run(t, p, id, "cat src/app/main.js && echo more >> src/app/main.js && touch src/app/new.js && echo ok")
	if res.Output != "console.log(1)\nok\n" {
		t.Errorf("sandbox editing host-written files: %+v", res)
	}
	if os.Geteuid() == 0 {
		m, _ := p.readMeta(id)
		for _, name := range []string{"src", "src/app", "src/app/main.js"} {
			if uid, _ := hostUID(t, filepath.Join(ws, name)); int(uid) != m.UID {
				t.Errorf("%s owned by uid %d, want sandbox uid %d", name, uid, m.UID)
			}
		}
	}

	// Overwriting keeps the mode (scripts stay executable).
	run(t, p, id, "printf '#!/bin/sh\\necho v1\\n' > run.sh && chmod 755 run.sh")
	if err := p.WriteFile(ctx, id, "run.sh", []byte("#!/bin/sh\necho v2\n")); err != nil {
		t.Fatal(err)
	}
	if res := run(t, p, id, "./run.sh"); res.Output != "v2\n" {
		t.Errorf("./run.sh after WriteFile = %+v", res)
	}

	run(t, p, id, "mkdir -p node_modules/left-pad .git/objects && touch node_modules/left-pad/index.js .git/HEAD")
	list, err := p.ListFiles(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Path  string
		IsDir bool
	}
	var entries []entry
	for _, f := range list {
		entries = append(entries, entry{f.Path, f.IsDir})
		if f.ModTime.IsZero() {
			t.Errorf("%s has no ModTime", f.Path)
		}
	}
	wantEntries := []entry{
		{".git", true},
		{"node_modules", true},
		{"run.sh", false},
		{"src", true},
		{"src/app", true},
		{"src/app/main.js", false},
		{"src/app/new.js", false},
	}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("ListFiles mismatch (-want +got):\n%s", diff)
	}
	sub, err := p.ListFiles(ctx, id, "src/app")
	if err != nil {
		t.Fatal(err)
	}
	wantSub := []sandbox.FileInfo{
		{Path: "src/app/main.js", Size: int64(len("console.log(1)\nmore\n"))},
		{Path: "src/app/new.js"},
	}
	if diff := cmp.Diff(wantSub, sub, cmpopts.IgnoreFields(sandbox.FileInfo{}, "ModTime")); diff != "" {
		t.Errorf("ListFiles(src/app) mismatch (-want +got):\n%s", diff)
	}

	t.Run("errors", func(t *testing.T) {
		run(t, p, id, "head -c 10485761 /dev/zero > big")
		tests := []struct {
			name string
			err  func() error
			want error
		}{
			{"read directory", func() error { _, err := p.ReadFile(ctx, id, "src"); return err }, sandbox.ErrIsDirectory},
			{"read root", func() error { _, err := p.ReadFile(ctx, id, ""); return err }, sandbox.ErrIsDirectory},
			{"write over directory", func() error { return p.WriteFile(ctx, id, "src", []byte("x")) }, sandbox.ErrIsDirectory},
			{"read too big", func() error { _, err := p.ReadFile(ctx, id, "big"); return err }, sandbox.ErrFileTooBig},
			{"read missing", func() error { _, err := p.ReadFile(ctx, id, "missing"); return err }, fs.ErrNotExist},
			{"delete missing", func() error { return p.DeleteFile(ctx, id, "missing") }, fs.ErrNotExist},
			{"unknown sandbox", func() error { _, err := p.ReadFile(ctx, otherID(id), "x"); return err }, sandbox.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.err(); !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
	})

	if err := p.DeleteFile(ctx, id, "src/app/main.js"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReadFile(ctx, id, "src/app/main.js"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile after DeleteFile: %v, want ErrNotExist", err)
	}
	if err := p.DeleteFile(ctx, id, "src"); err != nil {
		t.Fatal(err)
	}
	if res := run(t, p, id, "test -e src || echo gone"); res.Output != "gone\n" {
		t.Errorf("src after DeleteFile: %+v", res)
	}
}

func TestPathEscapesRefused(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()
	ops := map[string]func(path string) error{
		"ReadFile":   func(path string) error { _, err := p.ReadFile(ctx, id, path); return err },
		"WriteFile":  func(path string) error { return p.WriteFile(ctx, id, path, []byte("x")) },
		"DeleteFile": func(path string) error { return p.DeleteFile(ctx, id, path) },
		"ListFiles":  func(path string) error { _, err := p.ListFiles(ctx, id, path); return err },
	}
	for _, path := range []string{"../x", "/etc/passwd", "a/../../x", "..", "../" + id + "/meta.json", "a\x00b"} {
		for name, op := range ops {
			t.Run(name+"/"+path, func(t *testing.T) {
				if err := op(path); !errors.Is(err, sandbox.ErrPathEscapes) {
					t.Errorf("%s(%q) err = %v, want ErrPathEscapes", name, path, err)
				}
			})
		}
	}
	if _, err := os.Stat(filepath.Join(p.sandboxDir(id), "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused write left %s/x behind (stat err %v)", p.sandboxDir(id), err)
	}
}

func TestSymlinksPlantedInsideAreNotFollowed(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()

	// A host file the server can reach but the sandbox cannot.
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, p, id, fmt.Sprintf("ln -s /etc/shadow leak && ln -s ../../../../../../../../etc/passwd relleak && "+
		"ln -s %s hostsecret && ln -s %s hostdir && mkfifo fifo", secret, secretDir))

	for _, name := range []string{"leak", "relleak", "hostsecret", "hostdir/secret"} {
		if data, err := p.ReadFile(ctx, id, name); !errors.Is(err, sandbox.ErrPathEscapes) {
			t.Errorf("ReadFile(%s) = %q, %v; want ErrPathEscapes", name, data, err)
		}
	}
	if err := p.WriteFile(ctx, id, "hostdir/planted", []byte("x")); !errors.Is(err, sandbox.ErrPathEscapes) {
		t.Errorf("WriteFile(hostdir/planted) err = %v, want ErrPathEscapes", err)
	}
	if _, err := os.Stat(filepath.Join(secretDir, "planted")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile through a planted symlink created a host file (stat err %v)", err)
	}
	if _, err := p.ListFiles(ctx, id, "hostdir"); !errors.Is(err, sandbox.ErrPathEscapes) {
		t.Errorf("ListFiles(hostdir) err = %v, want ErrPathEscapes", err)
	}
	if err := p.DeleteFile(ctx, id, "hostdir/secret"); !errors.Is(err, sandbox.ErrPathEscapes) {
		t.Errorf("DeleteFile(hostdir/secret) err = %v, want ErrPathEscapes", err)
	}

	// Listing shows the links as links and does not descend through them.
	list, err := p.ListFiles(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range list {
		if f.IsDir {
			t.Errorf("%s listed as a directory", f.Path)
		}
		paths = append(paths, f.Path)
	}
	if diff := cmp.Diff([]string{"fifo", "hostdir", "hostsecret", "leak", "relleak"}, paths); diff != "" {
		t.Errorf("ListFiles mismatch (-want +got):\n%s", diff)
	}

	// Writing to a link replaces the link, never its target.
	if err := p.WriteFile(ctx, id, "hostsecret", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host secret" {
		t.Errorf("host secret changed to %q", b)
	}
	if b, err := p.ReadFile(ctx, id, "hostsecret"); err != nil || string(b) != "replaced" {
		t.Errorf("ReadFile(hostsecret) = %q, %v", b, err)
	}

	// A FIFO must not hang the host.
	done := make(chan error, 1)
	go func() { _, err := p.ReadFile(ctx, id, "fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ReadFile(fifo) succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFile(fifo) hangs")
	}
}

func TestNothingOfTheHostLeaksIn(t *testing.T) {
	canary := "qv-canary-" + rand.Text()
	t.Setenv("QV_TEST_CANARY", canary)
	dir := t.TempDir()
	p := newProvider(t, Config{Dir: dir})
	id := create(t, p)

	t.Run("pid 1 environ and cmdline", func(t *testing.T) {
		env := run(t, p, id, "cat /proc/1/environ").Output
		cmdline := run(t, p, id, "cat /proc/1/cmdline").Output
		for _, s := range []string{env, cmdline} {
			if strings.Contains(s, canary) || strings.Contains(s, dir) {
				t.Errorf("sandbox sees host data: %q", s)
			}
		}
		if env != "" {
			t.Errorf("/proc/1/environ = %q, want empty", env)
		}
		want := "bwrap\x00--args\x004\x00--\x00/opt/quickvibe/bin/qv-toolbox\x00serve\x00--listen-fd\x003\x00--egress-fd\x0012\x00"
		if diff := cmp.Diff(want, cmdline); diff != "" {
			t.Errorf("/proc/1/cmdline mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("command environment", func(t *testing.T) {
		if out := run(t, p, id, "env").Output; strings.Contains(out, canary) || strings.Contains(out, dir) {
			t.Errorf("env inside: %q", out)
		}
	})
	t.Run("inherited fds", func(t *testing.T) {
		if diff := cmp.Diff("0\n1\n2\n3\n", run(t, p, id, "ls /proc/self/fd").Output); diff != "" {
			t.Errorf("fds of a command (-want +got):\n%s", diff)
		}
		// bwrap's pid 1 keeps only stdio and its own eventfd.
		out := run(t, p, id, "ls -l /proc/1/fd | awk 'NR>1 {print $NF}'").Output
		for _, target := range strings.Fields(out) {
			if strings.HasPrefix(target, "/") && target != "/dev/null" {
				t.Errorf("pid 1 holds %s", target)
			}
		}
	})
	t.Run("toolbox is not dumpable", func(t *testing.T) {
		// $PPID of the command is the toolbox, running as the same uid.
		res := run(t, p, id, "cat /proc/$PPID/environ >/dev/null 2>&1 || echo denied; ls /proc/$PPID/fd >/dev/null 2>&1 || echo denied")
		if res.Output != "denied\ndenied\n" {
			t.Errorf("reading the toolbox's /proc entries: %q, want denied twice", res.Output)
		}
	})
	t.Run("host state dir invisible", func(t *testing.T) {
		res := run(t, p, id, fmt.Sprintf("ls %s 2>/dev/null || echo absent", dir))
		if res.Output != "absent\n" {
			t.Errorf("ls of the host state dir inside: %q", res.Output)
		}
	})
}

func TestNetworkIsIsolated(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)

	var ifaces []string
	for _, line := range strings.Split(run(t, p, id, "cat /proc/net/dev").Output, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if diff := cmp.Diff([]string{"lo"}, ifaces); diff != "" {
		t.Errorf("interfaces inside (-want +got):\n%s", diff)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	defer func() { ln.Close(); <-done }()
	port := ln.Addr().(*net.TCPAddr).Port

	// The toolbox dials from inside the sandbox's network namespace.
	if conn, err := p.DialPort(t.Context(), id, port); !errors.Is(err, toolbox.ErrPortNotAnswering) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("DialPort(host listener) err = %v, want ErrPortNotAnswering", err)
	}
	select {
	case <-accepted:
		t.Error("the host listener accepted a connection from the sandbox")
	case <-time.After(100 * time.Millisecond):
	}
}

// fetch polls DialPort until the port answers and does one HTTP GET.
func fetch(t *testing.T, p *Provider, id string, port int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		conn, err := p.DialPort(ctx, id, port)
		if errors.Is(err, toolbox.ErrPortNotAnswering) {
			select {
			case <-ctx.Done():
				t.Fatalf("port %d never answered: %v", port, err)
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %d-%s.preview.localhost\r\nConnection: close\r\n\r\n", port, id)
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

func TestPreviewThroughDialPort(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()
	if err := p.WriteFile(ctx, id, "index.html", []byte("<h1>v1</h1>")); err != nil {
		t.Fatal(err)
	}
	if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "web", Command: "qv-serve --port 3000 --dir /workspace"}); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, p, id, 3000); got != "<h1>v1</h1>" {
		t.Errorf("GET / = %q", got)
	}
	if err := p.WriteFile(ctx, id, "index.html", []byte("<h1>v2</h1>")); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, p, id, 3000); got != "<h1>v2</h1>" {
		t.Errorf("GET / after edit = %q", got)
	}
	st, err := p.Process(ctx, id, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running {
		t.Errorf("qv-serve not running: %+v", st)
	}
}

func TestBackgroundProcesses(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()

	if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "crash", Command: "echo starting; echo boom >&2; exit 7"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st sandbox.ProcessStatus
	for {
		var err error
		if st, err = p.Process(ctx, id, "crash"); err != nil {
			t.Fatal(err)
		}
		if !st.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := sandbox.ProcessStatus{Name: "crash", ExitCode: 7, OutputTail: "starting\nboom\n"}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("crashed process status (-want +got):\n%s", diff)
	}

	if _, err := p.Process(ctx, id, "nope"); !errors.Is(err, toolbox.ErrProcessNotFound) {
		t.Errorf("Process(nope) err = %v, want ErrProcessNotFound", err)
	}

	// A process outlives the Exec calls around it and is replaced by name.
	if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "svc", Command: "echo $$ > first.pid; exec sleep 100"}); err != nil {
		t.Fatal(err)
	}
	run(t, p, id, "while [ ! -s first.pid ]; do sleep 0.05; done")
	if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "svc", Command: "exec sleep 100"}); err != nil {
		t.Fatal(err)
	}
	if out := run(t, p, id, "kill -0 $(cat first.pid) 2>/dev/null && echo alive || echo dead").Output; out != "dead\n" {
		t.Errorf("replaced process is %s", out)
	}
	if st, err := p.Process(ctx, id, "svc"); err != nil || !st.Running {
		t.Errorf("Process(svc) = %+v, %v; want running", st, err)
	}
}

func TestStopStart(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()
	if err := p.WriteFile(ctx, id, "keep.txt", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "sleeper", Command: "sleep 300"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx, id); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	info, err := p.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != sandbox.StateStopped {
		t.Errorf("state after Stop = %s", info.State)
	}

	calls := map[string]func() error{
		"Exec":         func() error { _, err := p.Exec(ctx, id, sandbox.ExecRequest{Command: "true"}); return err },
		"StartProcess": func() error { return p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "x", Command: "true"}) },
		"Process":      func() error { _, err := p.Process(ctx, id, "sleeper"); return err },
		"DialPort":     func() error { _, err := p.DialPort(ctx, id, 3000); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, sandbox.ErrNotRunning) {
			t.Errorf("%s on a stopped sandbox: err = %v, want ErrNotRunning", name, err)
		}
	}
	// Files work while stopped.
	if b, err := p.ReadFile(ctx, id, "keep.txt"); err != nil || string(b) != "kept" {
		t.Errorf("ReadFile while stopped = %q, %v", b, err)
	}
	if err := p.WriteFile(ctx, id, "offline.txt", []byte("written while stopped")); err != nil {
		t.Errorf("WriteFile while stopped: %v", err)
	}

	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx, id); err != nil {
		t.Errorf("Start on a running sandbox: %v", err)
	}
	if info, _ := p.Get(ctx, id); info.State != sandbox.StateRunning {
		t.Errorf("state after Start = %s", info.State)
	}
	if got := run(t, p, id, "cat keep.txt; echo; cat offline.txt; pgrep sleep 2>/dev/null || ls /proc | grep -c '^[0-9]'").Output; !strings.HasPrefix(got, "kept\nwritten while stopped") {
		t.Errorf("workspace after restart: %q", got)
	}
	if _, err := p.Process(ctx, id, "sleeper"); !errors.Is(err, toolbox.ErrProcessNotFound) {
		t.Errorf("process from before Stop: err = %v, want ErrProcessNotFound", err)
	}
}

func TestDelete(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	ctx := t.Context()
	run(t, p, id, "mkdir -p deep/er && touch deep/er/file && chmod 000 deep/er")
	if err := p.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.sandboxDir(id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox dir after Delete: %v", err)
	}
	if _, err := p.Get(ctx, id); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := p.Delete(ctx, id); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("List after Delete = %+v", list)
	}
}

func TestUnknownAndInvalidIDs(t *testing.T) {
	p := newProvider(t, Config{})
	ctx := t.Context()
	// Plant something an unchecked id could reach.
	if err := os.WriteFile(filepath.Join(p.dir, "meta.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", ".", "..", "../../etc", "ABCDEFGHIJKL", "abc", "abcdefghijkl", "abcdefghijklm", ".toolbox"} {
		calls := map[string]func() error{
			"Get":      func() error { _, err := p.Get(ctx, id); return err },
			"Start":    func() error { return p.Start(ctx, id) },
			"Stop":     func() error { return p.Stop(ctx, id) },
			"Delete":   func() error { return p.Delete(ctx, id) },
			"Exec":     func() error { _, err := p.Exec(ctx, id, sandbox.ExecRequest{Command: "true"}); return err },
			"ReadFile": func() error { _, err := p.ReadFile(ctx, id, "x"); return err },
			"DialPort": func() error { _, err := p.DialPort(ctx, id, 80); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, sandbox.ErrNotFound) {
				t.Errorf("%s(%q) err = %v, want ErrNotFound", name, id, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(p.dir, "meta.json")); err != nil {
		t.Errorf("state dir damaged: %v", err)
	}
}

func TestListAndRestart(t *testing.T) {
	dir := t.TempDir()
	p1 := newProvider(t, Config{Dir: dir})
	ctx := t.Context()
	a, err := p1.Create(ctx, sandbox.Spec{Labels: map[string]string{"project": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p1.Create(ctx, sandbox.Spec{Labels: map[string]string{"project": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Stop(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	list, err := p1.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.State = sandbox.StateStopped
	if diff := cmp.Diff([]sandbox.Info{a, b}, list); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
	if err := p1.WriteFile(ctx, a.ID, "f", []byte("survives")); err != nil {
		t.Fatal(err)
	}
	m1, _ := p1.readMeta(a.ID)
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Create(ctx, sandbox.Spec{}); err == nil {
		t.Error("Create after Close succeeded")
	}

	// A new engine on the same dir finds both, stopped, and can resume them.
	p2 := newProvider(t, Config{Dir: dir})
	list, err = p2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.State = sandbox.StateStopped
	if diff := cmp.Diff([]sandbox.Info{a, b}, list); diff != "" {
		t.Errorf("List after restart mismatch (-want +got):\n%s", diff)
	}
	if err := p2.Start(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := run(t, p2, a.ID, "cat f").Output; got != "survives" {
		t.Errorf("file after restart = %q", got)
	}
	if m2, _ := p2.readMeta(a.ID); m2.UID != m1.UID {
		t.Errorf("uid changed across restart: %d -> %d", m1.UID, m2.UID)
	}
	c, err := p2.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if m3, _ := p2.readMeta(c.ID); os.Geteuid() == 0 && (m3.UID == m1.UID || m3.UID < firstUID) {
		t.Errorf("new sandbox got uid %d, in use by %s or below %d", m3.UID, a.ID, firstUID)
	}
}

// procState returns the state letter and start time of a host process.
func procState(pid int) (state, started string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain anything
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true // fields 3 and 22 of proc_pid_stat(5)
}

// sandboxProcesses returns pid -> start time of every live host process
// in one of the pid namespaces, and of bwrap processes started by us.
func sandboxProcesses(t *testing.T, pidNamespaces map[string]bool) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	procs := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, started, ok := procState(pid)
		if !ok || state == "Z" {
			continue
		}
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		ours := strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(os.Getpid())+"\n") &&
			strings.HasPrefix(string(status), "Name:\tbwrap\n")
		if pidNamespaces[ns] || ours {
			procs[pid] = started
		}
	}
	return procs
}

func TestCloseLeavesNoProcesses(t *testing.T) {
	p := newProvider(t, Config{})
	ctx := t.Context()
	namespaces := map[string]bool{}
	for range 2 {
		id := create(t, p)
		if err := p.StartProcess(ctx, id, sandbox.ProcessRequest{Name: "sleeper", Command: "sleep 300"}); err != nil {
			t.Fatal(err)
		}
		// Escapes the exec's process group on purpose; the exec waits until
		// it has, or the group's end would kill it first.
		run(t, p, id, "setsid sh -c 'touch /tmp/escaped; exec sleep 300' >/dev/null 2>&1 </dev/null & while [ ! -e /tmp/escaped ]; do sleep 0.01; done")
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.instance(id).initPID))
		if err != nil {
			t.Fatal(err)
		}
		namespaces[ns] = true
	}
	before := sandboxProcesses(t, namespaces)
	// Per sandbox: outer bwrap, its pid 1, toolbox, sleeper (a plain
	// command runs without its shell), setsid sleep.
	if len(before) < 2*5 {
		t.Fatalf("found %d sandbox processes before Close, want at least 10; the check below would prove nothing", len(before))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// The same processes (pid and start time), not yet dead: exiting ones
	// count as left over too.
	var left []string
	for pid, started := range before {
		if state, s, ok := procState(pid); ok && s == started && state != "Z" && state != "X" {
			left = append(left, fmt.Sprintf("pid %d state %s", pid, state))
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left after Close:\n%s", strings.Join(left, "\n"))
	}
}

func TestReadyExplainsMissingBwrap(t *testing.T) {
	t.Run("not on PATH", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		p, err := New(t.Context(), Config{Dir: t.TempDir(), Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("New must not fail without bwrap: %v", err)
		}
		defer p.Close()
		err = p.Ready(t.Context())
		if err == nil || !strings.Contains(err.Error(), "not found on PATH") || !strings.Contains(err.Error(), "apt-get install bubblewrap") {
			t.Errorf("Ready() = %v, want a hint to install bubblewrap", err)
		}
		if _, cerr := p.Create(t.Context(), sandbox.Spec{}); cerr == nil || !strings.Contains(cerr.Error(), "apt-get install bubblewrap") {
			t.Errorf("Create() = %v, want Ready's error", cerr)
		}
	})
	t.Run("configured path missing", func(t *testing.T) {
		p, err := New(t.Context(), Config{Dir: t.TempDir(), BwrapPath: "/nonexistent/bwrap", Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("New must not fail without bwrap: %v", err)
		}
		defer p.Close()
		if err := p.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "/nonexistent/bwrap") {
			t.Errorf("Ready() = %v, want it to name the configured path", err)
		}
	})
}

func TestReadyCatchesBinaryWithoutToolbox(t *testing.T) {
	// true(1) ignores its arguments, like a main that never calls
	// toolbox.DispatchIfToolbox would ignore "launch" or "version".
	p, err := New(t.Context(), Config{Dir: t.TempDir(), ToolboxBinary: "/bin/true", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "DispatchIfToolbox") {
		t.Errorf("Ready() = %v, want a hint about toolbox.DispatchIfToolbox", err)
	}
}

func TestNewIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		if !idRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestLogTail(t *testing.T) {
	var logs bytes.Buffer
	lt := newLogTail(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	fmt.Fprint(lt, "first li")
	fmt.Fprint(lt, "ne\nsecond line\npartial")
	if got := lt.String(); got != "first line\nsecond line\npartial" {
		t.Errorf("tail = %q", got)
	}
	if n := strings.Count(logs.String(), "sandbox output"); n != 2 {
		t.Errorf("logged %d lines, want 2:\n%s", n, logs.String())
	}
	io.WriteString(lt, strings.Repeat("x", 3*logTailSize))
	if len(lt.String()) != logTailSize {
		t.Errorf("tail keeps %d bytes, want %d", len(lt.String()), logTailSize)
	}
}

// otherID returns a well-formed id that differs from id in its last
// character.
func otherID(id string) string {
	last := "0"
	if strings.HasSuffix(id, "0") {
		last = "1"
	}
	return id[:len(id)-1] + last
}
