package toolbox

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDirectCommand(t *testing.T) {
	bin := t.TempDir()
	for name, mode := range map[string]os.FileMode{"serve": 0o755, "notexec": 0o644} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(bin, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=/nowhere", "PATH=relative:" + bin}
	tests := []struct {
		command, want string
	}{
		{"serve --port 3000 --dir /workspace", "exec serve --port 3000 --dir /workspace"},
		{"  serve\t-x  ", "exec   serve\t-x  "},
		{filepath.Join(bin, "serve") + " a=b,c:d+e@f%g", "exec " + filepath.Join(bin, "serve") + " a=b,c:d+e@f%g"},
		// Shell syntax keeps the shell.
		{"serve; serve", "serve; serve"},
		{"serve && serve", "serve && serve"},
		{"serve | serve", "serve | serve"},
		{"serve > out", "serve > out"},
		{"serve $HOME", "serve $HOME"},
		{"serve *", "serve *"},
		{"serve 'a b'", "serve 'a b'"},
		{"serve ~", "serve ~"},
		{"serve # comment", "serve # comment"},
		{"serve &", "serve &"},
		{"serve\nserve", "serve\nserve"},
		// Programs sh would not run through exec as they are.
		{"X=1 serve", "X=1 serve"},
		{"exit 3", "exit 3"},
		{"missing --flag", "missing --flag"},
		{"notexec", "notexec"},
		{"adir", "adir"},
		{"./serve", "./serve"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := directCommand(tt.command, env); got != tt.want {
			t.Errorf("directCommand(%q) = %q, want %q", tt.command, got, tt.want)
		}
	}
	if got := directCommand("serve", []string{"HOME=/"}); got != "serve" {
		t.Errorf("without PATH: %q, want the command unchanged", got)
	}
}

// TestPlainProcessRunsWithoutShell checks that a plain command line runs
// as the program itself (no shell waits for it in between) and keeps the
// process semantics: a kill -9 reads as exit code 137 and the supervisor
// restarts it. Shell syntax still gets its shell.
func TestPlainProcessRunsWithoutShell(t *testing.T) {
	srv := NewServer(ServerConfig{Dir: t.TempDir()})
	t.Cleanup(srv.Close)
	leader := func(name string) (int, string) {
		t.Helper()
		p := srv.process(name)
		if p == nil {
			t.Fatalf("no process %s", name)
		}
		var pid int
		waitFor(t, name+" to run", 10*time.Second, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.cur != nil {
				pid = p.cur.cmd.Process.Pid
			}
			return pid != 0
		})
		// sh execs the program right after it starts. Until the child
		// has exec'd at all, its command line is empty (mid-exec) or this
		// test binary's (just forked).
		self, err := os.ReadFile("/proc/self/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		var cmdline string
		waitFor(t, name+"'s command line", 10*time.Second, func() bool {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			cmdline = strings.ReplaceAll(string(b), "\x00", " ")
			return err == nil && len(b) > 0 && string(b) != string(self) && !strings.HasPrefix(cmdline, "/bin/sh -c exec ")
		})
		return pid, cmdline
	}

	if err := srv.startProcess("plain", "sleep 60", true); err != nil {
		t.Fatal(err)
	}
	pid, cmdline := leader("plain")
	if cmdline != "sleep 60 " {
		t.Errorf("plain command runs as %q, want sleep 60 itself", cmdline)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", 10*time.Second, func() bool { return srv.status("plain").Restarts == 1 })
	var killed bool
	lines, _ := srv.process("plain").lines.since(0, 0)
	for _, l := range lines {
		killed = killed || strings.HasPrefix(l.Line, "exited with code 137; restarting")
	}
	if !killed {
		t.Errorf("log %+v lacks the exit code 137 of the killed program", lines)
	}

	if err := srv.startProcess("compound", "sleep 60; true", false); err != nil {
		t.Fatal(err)
	}
	if _, cmdline := leader("compound"); cmdline != "/bin/sh -c sleep 60; true " {
		t.Errorf("compound command runs as %q, want its shell", cmdline)
	}
}

func TestProcessEnv(t *testing.T) {
	env := []string{"PATH=/bin"}
	tests := []struct {
		command string
		want    []string
	}{
		{"qv-serve --port 3000", []string{"PATH=/bin", goMaxProcs}},
		{"exec " + ServePath + " --dir .", []string{"PATH=/bin", goMaxProcs}},
		{"npm run dev", env},
		{"go run .", env},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, processEnv(tt.command, env)); diff != "" {
			t.Errorf("processEnv(%q) mismatch (-want +got):\n%s", tt.command, diff)
		}
	}
	if got := processEnv("qv-serve", []string{"GOMAXPROCS=4"}); !slices.Equal(got, []string{"GOMAXPROCS=4"}) {
		t.Errorf("an explicit GOMAXPROCS was replaced: %q", got)
	}
}

// TestDaemonEnv: the daemon runs with one P; the commands it starts get
// Env, which leaves GOMAXPROCS to the runtime.
func TestDaemonEnv(t *testing.T) {
	daemon := DaemonEnv()
	if !slices.Contains(daemon, goMaxProcs) {
		t.Errorf("DaemonEnv() = %q lacks %s", daemon, goMaxProcs)
	}
	for _, kv := range daemon {
		if strings.HasPrefix(kv, "TERM=") {
			t.Errorf("DaemonEnv() has %s, which only terminals need", kv)
		}
	}
	for _, kv := range Env() {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			t.Errorf("Env() has %s; commands must keep the runtime's default", kv)
		}
	}
	withoutRuntime := slices.DeleteFunc(slices.Clone(daemon), func(kv string) bool { return kv == goMaxProcs })
	wantCommon := slices.DeleteFunc(Env(), func(kv string) bool { return strings.HasPrefix(kv, "TERM=") })
	if diff := cmp.Diff(wantCommon, withoutRuntime); diff != "" {
		t.Errorf("DaemonEnv() differs from Env() beyond TERM and GOMAXPROCS (-want +got):\n%s", diff)
	}
}
