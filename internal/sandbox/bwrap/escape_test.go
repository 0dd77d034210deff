package bwrap

// The escape and abuse suite: one test per item of section 5 of the
// sandboxing reference, each against real sandboxes. Every test checks that
// the attempt was really made (the tool ran) and failed for the expected
// reason, and that the target is unharmed.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"

	"github.com/quickvibe/quickvibe/internal/egress"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// abuseLimits keep the abuse tests small and fast.
var abuseLimits = Limits{MemoryBytes: 64 << 20, Pids: 32, CPU: 0.5, TmpBytes: 16 << 20}

func limitedProvider(t *testing.T) *Provider {
	return newProvider(t, Config{Limits: &abuseLimits})
}

// runT runs command with a timeout.
func runT(t *testing.T, p *Provider, id, command string, timeout time.Duration) sandbox.ExecResult {
	t.Helper()
	res, err := p.Exec(t.Context(), id, sandbox.ExecRequest{Command: command, Timeout: timeout})
	if err != nil {
		t.Fatalf("Exec(%q): %v", command, err)
	}
	return res
}

// wantOutput fails unless the command's output contains every want.
func wantOutput(t *testing.T, p *Provider, id, command string, want ...string) string {
	t.Helper()
	out := run(t, p, id, command).Output
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s:\n%s\nwant it to contain %q", command, out, w)
		}
	}
	return out
}

// syscallProbe returns a command that makes one raw syscall inside the
// sandbox (python3 ctypes) and prints "errno=NAME".
func syscallProbe(t *testing.T, name string, args ...int) string {
	t.Helper()
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	nr, ok := info.SyscallNames[name]
	if !ok {
		t.Fatalf("no syscall %s on this architecture", name)
	}
	a := []string{strconv.Itoa(nr)}
	for _, x := range args {
		a = append(a, strconv.Itoa(x))
	}
	return `python3 -c 'import ctypes,errno,sys; l=ctypes.CDLL(None,use_errno=True); r=l.syscall(*[int(x) for x in sys.argv[1:]]); print("r=%d errno=%s" % (r, errno.errorcode.get(ctypes.get_errno(),"0")))' ` + strings.Join(a, " ")
}

// cgroupFile reads one file of the sandbox's cgroup for controller ctl:
// v2name in the unified hierarchy, v1name in a v1 one.
func cgroupFile(t *testing.T, p *Provider, id, ctl, v1name, v2name string) string {
	t.Helper()
	s := p.cgroups.lookup(id)
	path := filepath.Join(s.v1[ctl], v1name)
	if p.cgroups.v2Ctl[ctl] {
		path = filepath.Join(s.v2, v2name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return string(b)
}

// statValue finds "key N" in a cgroup stat file.
func statValue(t *testing.T, content, key string) int {
	t.Helper()
	for _, line := range strings.Split(content, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	t.Fatalf("no %q in %q", key, content)
	return 0
}

// sandboxPIDs lists the host pids in the sandbox's pids cgroup.
func sandboxPIDs(t *testing.T, p *Provider, id string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(cgroupFile(t, p, id, ctlPids, "cgroup.procs", "cgroup.procs")) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	return pids
}

// waitGone waits until none of pids is alive any more.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				t.Fatalf("pid %d still alive: %s", pid, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func wantNoCgroups(t *testing.T, p *Provider, id string) {
	t.Helper()
	s := p.cgroups.lookup(id)
	for _, dir := range append(slices.Collect(mapsValues(s.v1)), s.v2) {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s still exists (err %v)", dir, err)
		}
	}
}

func mapsValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// 1. Host files.
func TestEscapeReadHostFiles(t *testing.T) {
	p := newProvider(t, Config{})
	a, b := create(t, p), create(t, p)
	other := filepath.Join(p.sandboxDir(b), "workspace")
	if err := os.WriteFile(filepath.Join(other, "secret"), []byte("b's secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/etc/shadow", "/root", "/home", "/sys", p.dir, other + "/secret", "/proc/sysrq-trigger"} {
		out := wantOutput(t, p, a, "ls -d "+target+" 2>&1; cat "+target+" 2>&1", "No such file or directory")
		if strings.Contains(out, "b's secret") || strings.Contains(out, "root:x:") {
			t.Errorf("%s readable: %s", target, out)
		}
	}
}

// 2. Symlink and hardlink tricks against the host.
func TestEscapeSymlinkTricks(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	// (a) writing through a symlink to a host path inside.
	wantOutput(t, p, id, "ln -s /usr/lib/os-release evil && echo pwned > evil 2>&1; echo; cat /usr/lib/os-release | head -1",
		"Read-only file system")
	// hardlink to a file the sandbox does not own, on another mount.
	wantOutput(t, p, id, "ln /etc/passwd hard 2>&1", "Invalid cross-device link")
	// (b) the host must not follow it.
	run(t, p, id, "ln -sf /etc/shadow shadow; ln -sf ../../../../../../etc shadowdir")
	for _, name := range []string{"shadow", "shadowdir/shadow"} {
		if data, err := p.ReadFile(t.Context(), id, name); err == nil {
			t.Errorf("host read %s through a planted symlink: %q", name, data)
		}
	}
	if err := p.WriteFile(t.Context(), id, "shadowdir/x", []byte("x")); err == nil {
		t.Error("host wrote through a planted symlink")
	}
	// (c) the toolbox socket lives outside anything the sandbox can write.
	wantOutput(t, p, id, "ls /run/toolbox 2>&1; find / -name toolbox.sock 2>/dev/null | wc -l", "No such file or directory", "0")
	if st, err := os.Lstat(filepath.Join(p.sandboxDir(id), sockName)); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("host socket: %v %v", st, err)
	}
}

// 3. Leaked host fds.
func TestEscapeLeakedFDs(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	out := run(t, p, id, "ls /proc/self/fd").Output
	// 0-2 and the fd ls opened on the directory.
	if got := strings.Fields(out); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("a command's fds: %q, want 0 1 2 3", got)
	}
	// The toolbox's fds are not readable (non-dumpable), bwrap's pid 1 has
	// none pointing at host files.
	out = run(t, p, id, `for p in /proc/[0-9]*; do ls -l $p/fd/ 2>&1; done`).Output
	for _, bad := range []string{p.dir, "/tmp/", "/root", "/work"} {
		if strings.Contains(out, bad) {
			t.Errorf("an fd inside points at %s:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "Permission denied") {
		t.Errorf("expected the toolbox's fd table to be unreadable:\n%s", out)
	}
}

// 4. Environment and argv leaks.
func TestEscapeEnvAndArgv(t *testing.T) {
	t.Setenv("QV_ESCAPE_CANARY", "canary-4711")
	p := newProvider(t, Config{})
	id := create(t, p)
	out := run(t, p, id, "cat /proc/1/environ /proc/1/cmdline; for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; done; env").Output
	for _, bad := range []string{"canary-4711", p.dir, "QV_", "GOPATH", "ANTHROPIC"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q visible inside:\n%s", bad, out)
		}
	}
	// The toolbox's own environment is not even readable.
	wantOutput(t, p, id, "for p in /proc/[0-9]*; do cat $p/environ >/dev/null; done 2>&1", "Permission denied")
}

// 5. Host processes.
func TestEscapeSeeHostProcesses(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	out := run(t, p, id, "ls /proc | grep '^[0-9]' | wc -l").Output
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n == 0 || n > 8 {
		t.Errorf("sandbox sees %d pids, want a handful", n)
	}
	wantOutput(t, p, id, fmt.Sprintf("kill -0 %d 2>&1; kill -9 %d 2>&1", os.Getpid(), os.Getpid()), "No such process")
}

// 6. ptrace and process_vm_readv against the toolbox and bwrap's init.
func TestEscapePtrace(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	wantOutput(t, p, id, "strace -p 1 2>&1 | head -2", "Operation not permitted")
	const ptraceAttach = 16
	wantOutput(t, p, id, syscallProbe(t, "ptrace", ptraceAttach, 1, 0, 0), "r=-1 errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "process_vm_readv", 1, 0, 0, 0, 0, 0), "r=-1 errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "pidfd_getfd", 0, 2, 0), "r=-1 errno=EPERM")
	wantOutput(t, p, id, "grep Seccomp: /proc/self/status", "Seccomp:\t2")
}

// 7. Host loopback services, IPv6 loopback, host abstract sockets.
func TestEscapeHostLoopback(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	var hits sync.WaitGroup
	t.Cleanup(hits.Wait) // runs after the listeners are closed
	var mu sync.Mutex
	reached := 0
	serve := func(network, addr string) string {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		hits.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				reached++
				mu.Unlock()
				c.Close()
			}
		})
		return ln.Addr().String()
	}
	v4 := serve("tcp4", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(v4)
	abstract := "@qv-escape-" + strconv.Itoa(os.Getpid())
	serve("unix", abstract)
	wantOutput(t, p, id, "curl -sS --noproxy '*' -m 5 http://127.0.0.1:"+port+"/ 2>&1", "Couldn't connect")
	wantOutput(t, p, id, "curl -sS --noproxy '*' -m 5 'http://[::1]:"+port+"/' 2>&1", "Couldn't connect")
	wantOutput(t, p, id, "bash -c 'echo > /dev/tcp/127.0.0.1/"+port+"' 2>&1", "Connection refused")
	wantOutput(t, p, id, `python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect("\0`+abstract[1:]+`")' 2>&1`, "ConnectionRefusedError")
	mu.Lock()
	defer mu.Unlock()
	if reached != 0 {
		t.Errorf("host listeners were reached %d times", reached)
	}
}

// 8. Cloud metadata and private ranges, directly and via the proxy.
func TestEscapeMetadataAndPrivateAddresses(t *testing.T) {
	rec := &refusalLog{}
	eg, err := egress.New(egress.Config{
		Allow:    []string{"rebind.test"},
		Resolver: staticResolver{"rebind.test": {netip.MustParseAddr("169.254.169.254")}},
		OnRefuse: rec.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, Config{Egress: eg})
	id := create(t, p)
	for _, target := range []string{"169.254.169.254", "100.100.100.200", "10.0.0.1", "[fd00::1]"} {
		// Direct: no route at all, so no packet leaves.
		wantOutput(t, p, id, "curl -sS --noproxy '*' -m 5 http://"+target+"/ 2>&1", "Couldn't connect")
		// Via the proxy: an address literal is refused.
		wantOutput(t, p, id, "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://"+target+"/ 2>&1", "403")
	}
	// An allowlisted name that resolves to the metadata address.
	wantOutput(t, p, id, "curl -sS -m 5 http://rebind.test/latest/meta-data/ 2>&1", "link-local")
	if got := rec.reasons(); !strings.Contains(got, "resolves to 169.254.169.254") || !strings.Contains(got, "IP addresses are not allowed") {
		t.Errorf("refusals reported: %s", got)
	}
}

// 9. Another sandbox.
func TestEscapeAnotherSandbox(t *testing.T) {
	p := newProvider(t, Config{})
	a, b := create(t, p), create(t, p)
	if err := p.StartProcess(t.Context(), a, sandbox.ProcessRequest{Name: "web", Command: "qv-serve --port 3000 --dir ."}); err != nil {
		t.Fatal(err)
	}
	run(t, p, a, "echo a-page > index.html")
	if got := fetch(t, p, a, 3000); !strings.Contains(got, "a-page") {
		t.Fatalf("a's server: %q", got)
	}
	wantOutput(t, p, b, "curl -sS --noproxy '*' -m 5 http://127.0.0.1:3000/ 2>&1", "Couldn't connect")
	wantOutput(t, p, b, "ls "+p.sandboxDir(a)+" /sys/fs/cgroup 2>&1", "No such file or directory")
	// b cannot signal a's processes: they are not in its pid namespace.
	for _, pid := range sandboxPIDs(t, p, a) {
		wantOutput(t, p, b, fmt.Sprintf("kill -9 %d 2>&1", pid), "No such process")
	}
	if got := fetch(t, p, a, 3000); !strings.Contains(got, "a-page") {
		t.Errorf("a's server after b's attempts: %q", got)
	}
}

// 10. Egress proxy bypass attempts.
func TestEscapeEgressBypass(t *testing.T) {
	rec := &refusalLog{}
	eg, err := egress.New(egress.Config{Allow: []string{"*.github.com"}, OnRefuse: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, Config{Egress: eg})
	id := create(t, p)
	// Raw TCP and UDP, DNS to a public resolver: no route.
	wantOutput(t, p, id, "bash -c 'echo > /dev/tcp/1.1.1.1/443' 2>&1", "Network is unreachable")
	wantOutput(t, p, id, `python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("8.8.8.8", 53))' 2>&1`, "Network is unreachable")
	wantOutput(t, p, id, "getent hosts github.com; echo rc=$?", "rc=2")
	// ICMP sockets need a route (and a group range) too.
	wantOutput(t, p, id, `python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); s.sendto(b"\x08\0\0\0\0\0\0\0", ("1.1.1.1", 0))' 2>&1`, "Error")
	// Through the proxy: names not allowed, the wildcard's apex, a lookalike,
	// a non-443 port. None of these is resolved, so nothing leaves.
	for _, url := range []string{"https://example.com/", "https://github.com/", "https://evil-github.com/", "http://api.github.com:8080/", "http://github.com.evil.test/"} {
		wantOutput(t, p, id, "curl -sS -m 5 -o /dev/null -w ' code=%{http_code} connect=%{http_connect}' "+url+" 2>&1", "403")
	}
	// CONNECT to a raw address, and a Host header naming an allowed host
	// on a request for another.
	wantOutput(t, p, id, "curl -sS -m 5 -p --noproxy '' -x http://127.0.0.1:3128 -o /dev/null -w ' connect=%{http_connect}' http://1.1.1.1:22/ 2>&1", "403")
	wantOutput(t, p, id, "curl -sS -m 5 -o /dev/null -w ' code=%{http_code}' -H 'Host: api.github.com' http://example.com/ 2>&1", "code=403")
	if n := rec.count(); n < 5 {
		t.Errorf("%d refusals reported, want at least 5: %s", n, rec.reasons())
	}
}

// The happy path through a real sandbox: curl inside fetches an
// allowlisted name via the proxy. The name resolves (test resolver) to a
// host test server on loopback, permitted for this test only.
func TestEgressThroughSandbox(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "package %s", r.URL.Path)
	}))
	defer backend.Close()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))
	port, _ := strconv.Atoi(portStr)
	eg, err := egress.New(egress.Config{
		Allow:       []string{"registry.test"},
		Ports:       []int{port},
		Resolver:    staticResolver{"registry.test": {netip.MustParseAddr("127.0.0.1")}},
		PermitAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, Config{Egress: eg})
	id := create(t, p)
	wantOutput(t, p, id, "curl -sS -m 10 http://registry.test:"+portStr+"/left-pad 2>&1", "package /left-pad")
	// Proxy variables for the usual tools.
	wantOutput(t, p, id, "env | sort", "HTTPS_PROXY=http://127.0.0.1:3128", "https_proxy=", "NPM_CONFIG_PROXY=", "PIP_PROXY=", "NO_PROXY=localhost,127.0.0.1")
	// The same server by address stays unreachable.
	wantOutput(t, p, id, "curl -sS -m 5 -o /dev/null -w '%{http_code}' --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:"+portStr+"/ 2>&1", "403")
}

// 11. Fork bomb.
func TestAbuseForkBomb(t *testing.T) {
	p := limitedProvider(t)
	id := create(t, p)
	res := runT(t, p, id, "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", 5*time.Second)
	if n := statValue(t, cgroupFile(t, p, id, ctlPids, "pids.events", "pids.events"), "max"); n == 0 {
		t.Errorf("pids.max was never hit (output %q)", res.Output)
	}
	// The host still forks.
	for range 10 {
		if err := exec.Command("true").Run(); err != nil {
			t.Fatalf("host cannot fork during the bomb: %v", err)
		}
	}
	pids := sandboxPIDs(t, p, id)
	if err := p.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids)
	wantNoCgroups(t, p, id)
}

// 12. Memory bomb: anonymous memory and tmpfs pages.
func TestAbuseMemoryBomb(t *testing.T) {
	p := limitedProvider(t)
	id := create(t, p)
	res := runT(t, p, id, `python3 -c 'b = b"x" * (200 << 20); print("allocated")'`, 30*time.Second)
	if res.ExitCode != 137 || strings.Contains(res.Output, "allocated") {
		t.Errorf("memory bomb: exit %d, output %q; want it OOM-killed (137)", res.ExitCode, res.Output)
	}
	if p.cgroups.v2Ctl[ctlMemory] {
		if n := statValue(t, cgroupFile(t, p, id, ctlMemory, "", "memory.events"), "oom_kill"); n == 0 {
			t.Error("no oom_kill in memory.events")
		}
	} else if n := statValue(t, cgroupFile(t, p, id, ctlMemory, "memory.oom_control", ""), "oom_kill"); n == 0 {
		t.Error("no oom_kill in memory.oom_control")
	}
	// Only the bomb died: the sandbox still answers.
	wantOutput(t, p, id, "echo alive", "alive")
}

// 13. Disk fill: /tmp and the workspace stop at their sizes; the host's
// disk is untouched.
func TestAbuseDiskFill(t *testing.T) {
	l := abuseLimits
	l.DiskBytes = 32 << 20
	p := newProvider(t, Config{Limits: &l})
	if !p.diskQuota {
		t.Fatalf("workspace limit not enforced: %s", diskQuotaReason(p.asRoot))
	}
	id := create(t, p)
	wantOutput(t, p, id, "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; du -m /tmp/fill", "No space left on device")
	wantOutput(t, p, id, "rm /tmp/fill && echo freed", "freed")

	wantOutput(t, p, id, "ls -A; echo kept > kept.txt; dd if=/dev/zero of=fill bs=1M count=64 2>&1", "No space left on device")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(p.sandboxDir(id), wsImageName), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > l.DiskBytes {
		t.Errorf("workspace image uses %d bytes of host disk, limit %d", used, l.DiskBytes)
	}
	wantOutput(t, p, id, "rm fill && echo more > more.txt && cat more.txt", "more")
	// A stopped sandbox's files stay readable from the host, and survive a
	// restart of the engine.
	if err := p.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if b, err := p.ReadFile(t.Context(), id, "kept.txt"); err != nil || string(b) != "kept\n" {
		t.Errorf("kept.txt while stopped: %q, %v", b, err)
	}
	p.Close()
	if mounted, _ := isMountPoint(filepath.Join(p.sandboxDir(id), "workspace")); mounted {
		t.Error("workspace still mounted after Close")
	}
	p2 := newProvider(t, Config{Dir: p.dir, Limits: &l})
	if b, err := p2.ReadFile(t.Context(), id, "kept.txt"); err != nil || string(b) != "kept\n" {
		t.Errorf("kept.txt after a restart: %q, %v", b, err)
	}
	if err := p2.Start(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantOutput(t, p2, id, "cat kept.txt; df -m /workspace | tail -1", "kept")
	if err := p2.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.sandboxDir(id)); !os.IsNotExist(err) {
		t.Errorf("sandbox dir after delete: %v", err)
	}
}

// 14. CPU hog: the quota throttles it and the wall-clock limit kills the
// whole command tree.
func TestAbuseCPUHogAndWallClock(t *testing.T) {
	// A tenth of a core: two busy loops exceed it even on a loaded host.
	l := abuseLimits
	l.CPU = 0.1
	p := newProvider(t, Config{Limits: &l})
	id := create(t, p)
	before := len(sandboxPIDs(t, p, id))
	res := runT(t, p, id, "while :; do :; done & while :; do :; done", 2*time.Second)
	if !res.TimedOut {
		t.Errorf("CPU hog not timed out: %+v", res)
	}
	if p.cgroups.v2Ctl[ctlCPU] {
		if n := statValue(t, cgroupFile(t, p, id, ctlCPU, "", "cpu.stat"), "nr_throttled"); n == 0 {
			t.Error("never throttled")
		}
	} else if n := statValue(t, cgroupFile(t, p, id, ctlCPU, "cpu.stat", ""), "nr_throttled"); n == 0 {
		t.Error("never throttled")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sandboxPIDs(t, p, id)) > before {
		if time.Now().After(deadline) {
			t.Fatalf("hog processes left: %v (had %d before)", sandboxPIDs(t, p, id), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// 15. setuid binaries.
func TestEscapeSetuid(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	wantOutput(t, p, id, "cp /bin/sh ./rootsh && chmod u+s ./rootsh && ls -l rootsh && ./rootsh -c 'id -u'", "-rwsr", "1000")
	out := run(t, p, id, "ls -l /usr/bin/su; su -c 'id -u' root </dev/null 2>&1; echo rc=$?").Output
	if !strings.Contains(out, "-rwsr") || strings.Contains(out, "\n0\n") || strings.Contains(out, "rc=0") {
		t.Errorf("su: %s", out)
	}
	wantOutput(t, p, id, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1")
}

// 16. Kernel surfaces.
func TestEscapeKernelSurfaces(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	wantOutput(t, p, id, "echo evil > /proc/sys/kernel/hostname 2>&1; hostname", "Permission denied", "sandbox")
	wantOutput(t, p, id, "ls /proc/sysrq-trigger 2>&1", "No such file or directory")
	wantOutput(t, p, id, "dmesg 2>&1 | head -1", "Operation not permitted")
	wantOutput(t, p, id, "mkdir m; mount -t tmpfs none m 2>&1", "must be superuser")
	wantOutput(t, p, id, "unshare -U true 2>&1", "Operation not permitted")
	wantOutput(t, p, id, syscallProbe(t, "unshare", syscall.CLONE_NEWUSER), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "mount", 0, 0, 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "keyctl", 0, 0, 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "add_key", 0, 0, 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "bpf", 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "perf_event_open", 0, 0, 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "userfaultfd", 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "io_uring_setup", 8, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "setns", 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "open_by_handle_at", 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "init_module", 0, 0, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "socket", unix.AF_VSOCK, syscall.SOCK_STREAM, 0), "errno=EPERM")
	// clone3 says "not implemented", so libc falls back to clone...
	wantOutput(t, p, id, syscallProbe(t, "clone3", 0, 0), "errno=ENOSYS")
	// ...and node, which starts threads, still works, worker threads too.
	wantOutput(t, p, id, `node -e "const {Worker}=require('worker_threads'); new Worker('require(\"worker_threads\").parentPort.postMessage(6*7)',{eval:true}).on('message',m=>console.log('worker says',m))"`,
		"worker says 42")
}

// 17. Device nodes.
func TestEscapeDeviceNodes(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	wantOutput(t, p, id, "mknod mem c 1 1 2>&1; ls mem 2>&1", "Operation not permitted", "No such file")
	out := run(t, p, id, "ls /dev").Output
	safe := []string{"console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"}
	for _, f := range strings.Fields(out) {
		if !slices.Contains(safe, f) {
			t.Errorf("/dev/%s present inside", f)
		}
	}
}

// 18. TIOCSTI/TIOCLINUX injection into a terminal.
func TestEscapeTerminalInjection(t *testing.T) {
	p := newProvider(t, Config{})
	id := create(t, p)
	wantOutput(t, p, id, syscallProbe(t, "ioctl", 0, syscall.TIOCSTI, 0), "errno=EPERM")
	wantOutput(t, p, id, syscallProbe(t, "ioctl", 0, 0x541C, 0), "errno=EPERM")
}

// 19a. Process lifetime: stop kills daemonized children and removes the
// cgroups.
func TestEscapeProcessLifetimeAfterStop(t *testing.T) {
	p := limitedProvider(t)
	id := create(t, p)
	run(t, p, id, "setsid nohup sleep 1000 >/dev/null 2>&1 & (setsid sh -c 'sleep 999 & sleep 998' >/dev/null 2>&1 &) ; sleep 0.2")
	pids := sandboxPIDs(t, p, id)
	if len(pids) < 5 {
		t.Fatalf("expected the daemons in the sandbox's cgroup, got %v", pids)
	}
	if err := p.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids)
	wantNoCgroups(t, p, id)
	// Resuming gets fresh cgroups.
	if err := p.Start(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantOutput(t, p, id, "echo back", "back")
}

// freezeInChild moves the host process pid of sandbox id into a frozen v1
// freezer cgroup below the sandbox's own, where SIGKILL does not end it
// until it is thawed (the sandbox's destroy thaws only its own cgroup): a
// stand-in for a process that survives SIGKILL. It returns the thaw, which
// also runs at cleanup.
func freezeInChild(t *testing.T, p *Provider, id string, pid int) (thaw func()) {
	t.Helper()
	fz := p.cgroups.lookup(id).v1[ctlFreezer]
	if fz == "" {
		t.Fatal("this test needs the cgroup v1 freezer controller and root (the CI host has both)")
	}
	child := filepath.Join(fz, "frozen")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(child, "freezer.state")
	thaw = func() { _ = os.WriteFile(state, []byte("THAWED"), 0) }
	t.Cleanup(thaw)
	if err := os.WriteFile(filepath.Join(child, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("FROZEN"), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(b)) == "FROZEN" {
			return thaw
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stays %s", state, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findProc returns the one of pids whose command line is cmd.
func findProc(t *testing.T, pids []int, cmd string) int {
	t.Helper()
	for _, pid := range pids {
		if cmdline(pid) == cmd {
			return pid
		}
	}
	t.Fatalf("no %q among %v", cmd, pids)
	return 0
}

// 19c. A sandbox process that survives SIGKILL: Stop and Delete give up
// within their deadline and say which process is left, instead of
// reporting success; starting again fails saying so while the process is
// there, and works once it is gone.
func TestEscapeProcessLifetimeStopWithSurvivor(t *testing.T) {
	tests := []struct {
		name string
		end  func(p *Provider, id string) error
	}{
		{"Stop", func(p *Provider, id string) error { return p.Stop(t.Context(), id) }},
		{"Delete", func(p *Provider, id string) error { return p.Delete(t.Context(), id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Mostly waiting for the deadline.
			t.Parallel()
			p := limitedProvider(t)
			id := create(t, p)
			run(t, p, id, "setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 0.2")
			survivor := findProc(t, sandboxPIDs(t, p, id), "sleep 1000")
			thaw := freezeInChild(t, p, id, survivor)

			start := time.Now()
			err := tt.end(p, id)
			took := time.Since(start)
			t.Logf("%s took %s: %v", tt.name, took.Round(time.Millisecond), err)
			if err == nil {
				t.Fatalf("%s reported success with a sandbox process still alive", tt.name)
			}
			for _, want := range []string{"could not be fully stopped", "did not exit", fmt.Sprintf("%d (sleep 1000)", survivor)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v\nwant it to contain %q", tt.name, err, want)
				}
			}
			// One deadline (stopTimeout) for the whole bring-down, not one
			// per wait and cgroup (which took some 25 s).
			if took > 2*stopTimeout {
				t.Errorf("%s took %s", tt.name, took)
			}
			// The mechanism: SIGKILL is pending but the frozen process
			// lives on.
			if st, ok := readStatus(survivor); !ok || st.state == 'Z' {
				t.Fatalf("pid %d is gone: the frozen cgroup did not keep it alive", survivor)
			}
			if p.instance(id) != nil {
				t.Error("the sandbox still counts as running")
			}
			if _, err := p.Get(t.Context(), id); err != nil {
				t.Errorf("the sandbox is gone although %s failed: %v", tt.name, err)
			}

			err = p.Start(t.Context(), id)
			if err == nil || !strings.Contains(err.Error(), "still in use") || !strings.Contains(err.Error(), strconv.Itoa(survivor)) || strings.Contains(err.Error(), "file exists") {
				t.Errorf("Start with the process still there: %v; want an error naming it", err)
			}

			thaw()
			waitGone(t, []int{survivor})
			if err := p.Start(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			wantOutput(t, p, id, "echo back", "back")
			if err := tt.end(p, id); err != nil {
				t.Fatal(err)
			}
			wantNoCgroups(t, p, id)
		})
	}
}

// 19d. Stopping kills the sandbox's pid 1 itself: --new-session puts it
// outside the outer bwrap's process group, so without that it would only
// die through --die-with-parent. With the outer bwrap frozen (SIGKILL
// pending, so it neither dies nor lets pid 1 die with it), kill must end
// pid 1 and everything in its pid namespace, a daemon in its own session
// too.
func TestEscapeProcessLifetimeKillEndsPID1(t *testing.T) {
	p := limitedProvider(t)
	id := create(t, p)
	run(t, p, id, "setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 0.2")
	in := p.instance(id)
	if in == nil || in.initPID <= 0 {
		t.Fatalf("sandbox %s: no instance or unknown pid 1", id)
	}
	outer := in.cmd.Process.Pid
	tree := processTree(t, in.initPID)
	daemon := findProc(t, tree, "sleep 1000")
	init, _ := readStatus(in.initPID)
	if st, _ := readStatus(daemon); init.sid == outer || st.sid == init.sid {
		t.Fatalf("pid 1 (session %d) or the daemon (session %d) is not in a session of its own (outer bwrap %d)", init.sid, st.sid, outer)
	}
	thaw := freezeInChild(t, p, id, outer)

	in.kill()
	// Zombies count: pid 1's parent, the frozen bwrap, cannot reap it.
	waitDead(t, tree)
	if st, ok := readStatus(outer); !ok || st.state == 'Z' {
		t.Fatal("the outer bwrap died, so pid 1 may have died with it: the test proves nothing")
	}

	thaw()
	if err := p.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantNoCgroups(t, p, id)
}

// 19b. Process lifetime after the server is killed: a child process plays
// the server (TestHelperServer), creates a sandbox with a daemon in it and
// is killed with SIGKILL; every sandbox process must die, and the next
// server on the same directory removes the cgroups and finds the
// workspace intact.
func TestEscapeProcessLifetimeAfterServerKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServer$", "-test.v")
	cmd.Env = append(os.Environ(), "QV_BWRAP_HELPER_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var id string
	var pids []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "HELPER-READY" {
			id = f[1]
			for _, s := range f[2:] {
				n, _ := strconv.Atoi(s)
				pids = append(pids, n)
			}
			break
		}
	}
	if id == "" || len(pids) < 4 {
		t.Fatalf("helper did not report its sandbox: id %q pids %v (%v)", id, pids, sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pids)

	p := newProvider(t, Config{Dir: dir, Limits: &abuseLimits})
	wantNoCgroups(t, p, id)
	data, err := p.ReadFile(t.Context(), id, "kept.txt")
	if err != nil || string(data) != "kept\n" {
		t.Errorf("workspace after the crash: %q, %v", data, err)
	}
}

// TestHelperServer is the server of TestEscapeProcessLifetimeAfterServerKill;
// it does nothing unless that test starts it.
func TestHelperServer(t *testing.T) {
	dir := os.Getenv("QV_BWRAP_HELPER_DIR")
	if dir == "" {
		return
	}
	p := newProvider(t, Config{Dir: dir, Limits: &abuseLimits})
	id := create(t, p)
	run(t, p, id, "echo kept > kept.txt; setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 0.2")
	pids := sandboxPIDs(t, p, id)
	fmt.Printf("HELPER-READY %s %s\n", id, strings.Trim(fmt.Sprint(pids), "[]"))
	time.Sleep(time.Minute) // until killed
}

type refusalLog struct {
	mu   sync.Mutex
	list []egress.Refusal
}

func (r *refusalLog) add(x egress.Refusal) { r.mu.Lock(); r.list = append(r.list, x); r.mu.Unlock() }
func (r *refusalLog) count() int           { r.mu.Lock(); defer r.mu.Unlock(); return len(r.list) }
func (r *refusalLog) reasons() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.list)
}

// staticResolver answers from a table; nothing asks real DNS.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s (test resolver)", host)
}
