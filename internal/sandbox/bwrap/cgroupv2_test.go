package bwrap

// The cgroup v2 path against the real unified hierarchy. On the test VM it
// carries no memory/pids/cpu controller (they are bound to v1 hierarchies),
// but a cgroup2 hierarchy without controllers still does everything else
// the engine relies on: mkdir, CLONE_INTO_CGROUP, cgroup.procs,
// cgroup.kill, rmdir. These tests point engines at a fresh cgroup of that
// hierarchy, with no v1 controllers, and run real sandboxes in it.

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
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

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// envV2Base names the cgroup under which the tests of this file make
// theirs, in the child of TestCgroupV2UnprivilegedServer (a cgroup
// delegated to that child's user).
const envV2Base = "QV_BWRAP_V2_BASE"

// unifiedMount returns where the cgroup2 hierarchy is mounted, read from
// the mount table independently of the engine's own parsing.
func unifiedMount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(line, " - ")
		if pf, qf := strings.Fields(pre), strings.Fields(post); ok && len(pf) >= 5 && len(qf) > 0 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	t.Fatal("no cgroup2 hierarchy is mounted; CI hosts mount one (systemd does)")
	return ""
}

// ownV2Path is this process's cgroup in the unified hierarchy ("0::"
// line of /proc/self/cgroup).
func ownV2Path(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	t.Fatal("not in any cgroup2 cgroup")
	return ""
}

func randomName(t *testing.T) string {
	t.Helper()
	return "quickvibe-test-" + strings.ToLower(rand.Text()[:10])
}

// makeTestCgroup makes a fresh cgroup under base and removes it and
// everything in it when the test ends.
func makeTestCgroup(t *testing.T, base string) string {
	t.Helper()
	dir := filepath.Join(base, randomName(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create test cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := removeCgroupTree(dir); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return dir
}

// removeCgroupTree kills everything in the cgroup dir and below it and
// removes them all.
func removeCgroupTree(dir string) error {
	killV2(dir)
	return removeCgroup(dir, time.Now().Add(5*time.Second))
}

// useV2Parent makes a fresh cgroup in the unified hierarchy and has every
// engine the test creates use it as the parent of its sandbox cgroups, the
// way detectCgroups sets up mount/quickvibe, and no v1 hierarchy. It
// returns the hierarchy's mount point and the parent.
func useV2Parent(t *testing.T) (mount, parent string) {
	t.Helper()
	mount = unifiedMount(t)
	base := os.Getenv(envV2Base)
	if base == "" {
		base = filepath.Join(mount, ownV2Path(t))
	}
	parent = makeTestCgroup(t, base)
	old := newCgroups
	newCgroups = func(bool) *cgroups {
		c := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{}}
		c.useV2(parent, v2Controllers(t, parent))
		return c
	}
	t.Cleanup(func() { newCgroups = old })
	return mount, parent
}

// v2Controllers are the controllers the parent of dir hands down to it.
func v2Controllers(t *testing.T, dir string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	avail := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		avail[f] = true
	}
	return avail
}

// syncBuffer collects log output written by the engine's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newV2Provider returns an engine on dir ("" for a fresh one) whose
// cgroups live only under parent, and checks that it says which limits
// that hierarchy cannot enforce, and why.
func newV2Provider(t *testing.T, parent, dir string) *Provider {
	t.Helper()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := newProvider(t, Config{Dir: dir, Logger: log})
	if p.cgroups.v2 != parent || len(p.cgroups.v1) != 0 {
		t.Fatalf("engine cgroups: v2 %q, v1 %v; want only v2 %q", p.cgroups.v2, p.cgroups.v1, parent)
	}
	avail := v2Controllers(t, parent)
	rep := p.cgroups.report()
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if avail[ctl] {
			if rep.Enforced[ctl] != "cgroup v2" {
				t.Errorf("%s: the hierarchy hands it down, but the report says %+v", ctl, rep)
			}
			continue
		}
		// The test VM: every limit must be reported, with the reason.
		why := "the cgroup v2 hierarchy does not hand the " + ctl + " controller down to " + parent
		if _, ok := rep.Enforced[ctl]; ok || !strings.Contains(rep.Missing[ctl], why) {
			t.Errorf("%s: report %+v; want it missing because %q", ctl, rep, why)
		}
		checkLimitWarning(t, logs.String(), ctl, why)
	}
	return p
}

// procStatus is what the tests need of /proc/PID/stat.
type procStatus struct {
	ppid, sid int
	state     byte
}

func readStatus(pid int) (procStatus, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStatus{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStatus{}, false
	}
	// Fields 3 (state), 4 (ppid), 5 (pgrp), 6 (session).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 || len(f[0]) != 1 {
		return procStatus{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	sid, _ := strconv.Atoi(f[3])
	return procStatus{ppid: ppid, sid: sid, state: f[0][0]}, true
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// processTree returns root and every process below it. Within a pid
// namespace orphans are adopted inside it, so for the namespace's pid 1
// these are all of the namespace's processes.
func processTree(t *testing.T, root int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStatus(pid); ok {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	slices.Sort(out)
	return out
}

// cgroupProcs lists the processes in the cgroup dir.
func cgroupProcs(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatalf("read cgroup.procs: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("cgroup.procs: %q", b)
		}
		pids = append(pids, n)
	}
	slices.Sort(pids)
	return pids
}

// v2CgroupOf is the "0::" line of /proc/PID/cgroup.
func v2CgroupOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return err.Error()
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "0::") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// waitDead waits until none of pids runs any more; a zombie (whose reaper
// is not this process) counts as dead.
func waitDead(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for {
			st, ok := readStatus(pid)
			if !ok || st.state == 'Z' || st.state == 'X' {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d (%s) still alive", pid, cmdline(pid))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// startInCgroup starts a host process inside the cgroup dir
// (CLONE_INTO_CGROUP) and returns it and a channel with its wait status.
func startInCgroup(t *testing.T, dir string, argv ...string) (*exec.Cmd, <-chan syscall.WaitStatus) {
	t.Helper()
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", argv, dir, err)
	}
	done := make(chan syscall.WaitStatus, 1)
	go func() {
		_ = cmd.Wait()
		done <- cmd.ProcessState.Sys().(syscall.WaitStatus)
	}()
	// Whatever it started dies with the test's cgroup (makeTestCgroup).
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, done
}

// checkSandboxTree starts a background process and a daemon (setsid,
// double fork) in sandbox id, checks that the sandbox's v2 cgroup holds
// exactly its processes (bwrap, its pid 1 and everything below) and that
// each of them names that cgroup, and returns them.
func checkSandboxTree(t *testing.T, p *Provider, mount, id string) []int {
	t.Helper()
	s := p.cgroups.lookup(id)
	if err := p.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "bg", Command: "sleep 1001"}); err != nil {
		t.Fatal(err)
	}
	run(t, p, id, "(setsid sh -c 'sleep 1002 >/dev/null 2>&1 &' &); sleep 0.1")
	in := p.instance(id)
	if in == nil || in.initPID <= 0 {
		t.Fatalf("sandbox %s: no instance or unknown pid 1", id)
	}
	bwrapPID := in.cmd.Process.Pid
	find := func(tree []int, match func(string) bool) int {
		for _, pid := range tree {
			if match(cmdline(pid)) {
				return pid
			}
		}
		return 0
	}
	var tree []int
	var tb, bg, daemon int
	deadline := time.Now().Add(10 * time.Second)
	for {
		tree = processTree(t, in.initPID)
		tb = find(tree, func(c string) bool { return strings.HasPrefix(c, toolbox.ToolboxPath+" serve") })
		bg = find(tree, func(c string) bool { return c == "sleep 1001" })
		daemon = find(tree, func(c string) bool { return c == "sleep 1002" })
		if tb > 0 && bg > 0 && daemon > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox processes not found: toolbox %d, background %d, daemon %d in %v", tb, bg, daemon, tree)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tbSt, _ := readStatus(tb)
	if st, _ := readStatus(daemon); st.sid == tbSt.sid || st.ppid == tb {
		t.Errorf("sleep 1002 did not daemonize: %+v (toolbox %+v)", st, tbSt)
	}
	// Everything bwrap started, pid 1's tree included.
	want := processTree(t, bwrapPID)
	if !slices.Contains(want, in.initPID) || !slices.Contains(want, daemon) {
		t.Fatalf("bwrap's tree %v lacks pid 1 %d or the daemon %d", want, in.initPID, daemon)
	}
	got := cgroupProcs(t, s.v2)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s/cgroup.procs is not bwrap plus the sandbox's process tree (-want +got):\n%s", s.v2, diff)
	}
	wantLine := "0::" + strings.TrimPrefix(s.v2, mount)
	for _, pid := range want {
		if line := v2CgroupOf(pid); line != wantLine {
			t.Errorf("pid %d (%s) is in %q, want %q", pid, cmdline(pid), line, wantLine)
		}
	}
	for name, pid := range map[string]int{"bwrap": bwrapPID, "pid 1": in.initPID, "toolbox": tb, "background": bg, "daemon": daemon} {
		if !slices.Contains(got, pid) {
			t.Errorf("%s (pid %d) is not in the sandbox's cgroup", name, pid)
		}
	}
	return want
}

// TestCgroupV2SandboxLifecycle runs sandboxes in the unified hierarchy:
// bwrap starts inside the sandbox's cgroup, so everything the sandbox ever
// runs is in it; stopping, deleting and closing kill everything in it (a
// process that got into the cgroup from outside the sandbox's pid
// namespace, which only cgroup.kill reaches, too) and remove it.
func TestCgroupV2SandboxLifecycle(t *testing.T) {
	tests := []struct {
		name string
		end  func(p *Provider, id string) error
	}{
		{"Stop", func(p *Provider, id string) error { return p.Stop(t.Context(), id) }},
		{"Delete", func(p *Provider, id string) error { return p.Delete(t.Context(), id) }},
		{"Close", func(p *Provider, id string) error { return p.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mount, parent := useV2Parent(t)
			p := newV2Provider(t, parent, "")
			id := create(t, p)
			s := p.cgroups.lookup(id)
			if s.v2 != filepath.Join(parent, cgroupPrefix+id) || len(s.v1) != 0 {
				t.Fatalf("sandbox cgroups %+v", s)
			}
			pids := checkSandboxTree(t, p, mount, id)
			// Outside the pid namespace, so only the cgroup can end it.
			stray, strayDone := startInCgroup(t, s.v2, "sleep", "1003")
			if procs := cgroupProcs(t, s.v2); !slices.Contains(procs, stray.Process.Pid) {
				t.Fatalf("stray process %d not in the sandbox's cgroup: %v", stray.Process.Pid, procs)
			}

			if err := tt.end(p, id); err != nil {
				t.Fatal(err)
			}
			waitDead(t, pids)
			select {
			case ws := <-strayDone:
				if ws.Signal() != syscall.SIGKILL {
					t.Errorf("stray process ended with %v, want SIGKILL", ws)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("stray process in the sandbox's cgroup survived")
			}
			if _, err := os.Stat(s.v2); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("sandbox cgroup %s still there: %v", s.v2, err)
			}
			if tt.name != "Stop" {
				return
			}
			// Resuming gets a fresh cgroup, which bwrap starts in.
			if err := p.Start(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			if procs := cgroupProcs(t, s.v2); !slices.Contains(procs, p.instance(id).cmd.Process.Pid) {
				t.Errorf("restarted bwrap not in %s: %v", s.v2, procs)
			}
			wantOutput(t, p, id, "echo back", "back")
		})
	}
}

// TestCgroupV2LeftoverKilledAtStart: a server that crashed leaves a
// sandbox cgroup with a process tree in it (a daemon in its own session
// too); the next server on the same state dir kills it and removes the
// cgroup, and the sandbox starts again.
func TestCgroupV2LeftoverKilledAtStart(t *testing.T) {
	_, parent := useV2Parent(t)
	dir := t.TempDir()
	p1 := newV2Provider(t, parent, dir)
	id := create(t, p1)
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(parent, cgroupPrefix+id)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatalf("create the crashed server's cgroup: %v", err)
	}
	leader, leaderDone := startInCgroup(t, cg, "/bin/sh", "-c", "setsid sleep 1004 </dev/null >/dev/null 2>&1 & exec sleep 1005")
	var procs []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		procs = cgroupProcs(t, cg)
		if len(procs) == 2 && cmdline(leader.Process.Pid) == "sleep 1005" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leftover cgroup holds %v, want the leader %d and its daemon", procs, leader.Process.Pid)
		}
	}

	p2 := newV2Provider(t, parent, dir)
	select {
	case ws := <-leaderDone:
		if ws.Signal() != syscall.SIGKILL {
			t.Errorf("leftover process ended with %v, want SIGKILL", ws)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a new server left the leftover cgroup's process alive")
	}
	waitDead(t, procs)
	if _, err := os.Stat(cg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover cgroup %s still there: %v", cg, err)
	}
	if err := p2.Start(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantOutput(t, p2, id, "echo again", "again")
}

// TestCgroupV2KillReachesDescendants: the v2 kill is cgroup.kill, which
// takes the whole subtree, including processes in cgroups below the
// sandbox's that the cgroup's own cgroup.procs does not list.
func TestCgroupV2KillReachesDescendants(t *testing.T) {
	_, parent := useV2Parent(t)
	top := filepath.Join(parent, cgroupPrefix+"kill")
	sub := filepath.Join(top, "sub")
	for _, d := range []string{top, sub} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, done := startInCgroup(t, sub, "sleep", "1006")
	if len(cgroupProcs(t, top)) != 0 {
		t.Fatal("the top cgroup lists the nested process; the check below would prove nothing")
	}
	killV2(top)
	select {
	case ws := <-done:
		if ws.Signal() != syscall.SIGKILL {
			t.Errorf("process ended with %v, want SIGKILL", ws)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("killV2 did not reach the process in a nested cgroup")
	}
}

// TestCgroupV2KillFallback: without cgroup.kill (kernels before 5.14) the
// processes listed in cgroup.procs are killed one by one, and no
// cgroup.kill file is made up. A plain directory stands in for the cgroup.
func TestCgroupV2KillFallback(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "1007")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	killV2(dir)
	_ = cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("process ended with %v, want SIGKILL", ws)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("killV2 created cgroup.kill: %v", err)
	}
	// A cgroup that is already gone is no error and kills nothing.
	killV2(filepath.Join(dir, "gone"))
}

// TestCgroupV2HierarchyWithoutControllers: detection does not use a
// unified hierarchy that hands down none of the controllers, and says why
// each limit is missing (here, with no v1 hierarchy either).
func TestCgroupV2HierarchyWithoutControllers(t *testing.T) {
	mount := t.TempDir()
	if err := os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("hugetlb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{}}
	c.setupV2(mount)
	if c.v2 != "" {
		t.Errorf("v2 parent %q, want none", c.v2)
	}
	if _, err := os.Stat(filepath.Join(mount, cgroupParent)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("created %s/%s: %v", mount, cgroupParent, err)
	}
	rep := c.report()
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		why := "the cgroup v2 hierarchy at " + mount + " has no " + ctl + " controller enabled"
		if !strings.Contains(rep.Missing[ctl], why) {
			t.Errorf("%s: missing %q, want %q", ctl, rep.Missing[ctl], why)
		}
	}
	if len(rep.Enforced) != 0 {
		t.Errorf("enforced: %v", rep.Enforced)
	}
}

// TestCgroupV2UnprivilegedServer runs the sandbox tests of this file again
// as an ordinary user whose server runs in a cgroup delegated to it (owned
// by it, as systemd's Delegate= does): bwrap is started into the sandbox's
// cgroup by plain exec with CLONE_INTO_CGROUP, without root.
func TestCgroupV2UnprivilegedServer(t *testing.T) {
	if os.Getenv(envV2Base) != "" {
		return // already the child
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to delegate a cgroup (CI runs the tests as root)")
	}
	// delegated/server holds the server; delegated/sandboxes its sandboxes.
	// Moving a process between them takes write access to the cgroup.procs
	// of their common ancestor, delegated.
	delegated := makeTestCgroup(t, filepath.Join(unifiedMount(t), ownV2Path(t)))
	server, sandboxes := filepath.Join(delegated, "server"), filepath.Join(delegated, "sandboxes")
	for _, d := range []string{server, sandboxes} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	delegate(t, delegated, server, sandboxes)
	tests := []string{"TestCgroupV2SandboxLifecycle", "TestCgroupV2LeftoverKilledAtStart", "TestCgroupV2KillReachesDescendants"}
	out := runUnprivilegedIn(t, server, "^("+strings.Join(tests, "|")+")$", envV2Base+"="+sandboxes)
	for _, name := range tests {
		if !strings.Contains(out, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass as uid %d:\n%s", name, unprivilegedUID, out)
		}
	}
	// The child removed everything it made.
	entries, err := os.ReadDir(sandboxes)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("the unprivileged server left cgroup %s", filepath.Join(sandboxes, e.Name()))
		}
	}
}

// delegate hands the cgroups dirs to unprivilegedUID the way systemd's
// Delegate= does: the directories and the files that manage them.
func delegate(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		for _, name := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
			if err := os.Chown(filepath.Join(dir, name), unprivilegedUID, unprivilegedUID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runUnprivilegedIn runs the tests matching run as unprivilegedUID,
// started in the cgroup dir, fails unless they pass without logging an
// error, and returns their output.
func runUnprivilegedIn(t *testing.T, dir, run string, env ...string) string {
	t.Helper()
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := unprivilegedChild(t, run, env...)
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests as uid %d: %v\n%s", unprivilegedUID, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("the unprivileged server logged an error: %s", line)
		}
	}
	return string(out)
}

// checkLimitWarning fails unless the engine's log warns that the limit of
// controller ctl is not enforced, giving why.
func checkLimitWarning(t *testing.T, log, ctl, why string) {
	t.Helper()
	for line := range strings.Lines(log) {
		if strings.Contains(line, "sandbox limit NOT enforced") && strings.Contains(line, "limit="+ctl+" ") && strings.Contains(line, why) {
			return
		}
	}
	t.Errorf("no warning that %s is not enforced because %q in the log:\n%s", ctl, why, log)
}
