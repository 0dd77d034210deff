package bwrap

// A server not running as root on the unified hierarchy: it uses its own
// cgroup if that is delegated to it (setupUnprivilegedV2). The paths with
// controllers and the kernel's EBUSY run against a fake cgroupfs (the test
// VM's cgroup2 hierarchy has no controllers); the rest runs for real in
// TestCgroupV2DelegatedServer.

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakePID is the server's pid in the fake hierarchy.
const fakePID = 4242

// fakeDelegated makes a fake unified hierarchy whose cgroup own is
// delegated to the server and offers controllers, and a cgroups that
// records every set-up write (relative to the mount) and fails those for
// which fail returns an error.
func fakeDelegated(t *testing.T, controllers string, fail func(rel string) error) (c *cgroups, mount, own string, writes *[]string) {
	t.Helper()
	mount = t.TempDir()
	own = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
	dir := filepath.Join(mount, own)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"cgroup.controllers":     controllers + "\n",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "4242\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writes = new([]string)
	c = &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{}}
	c.write = func(path, value string) error {
		rel := strings.TrimPrefix(path, mount)
		*writes = append(*writes, rel+" "+value)
		if fail != nil {
			if err := fail(rel); err != nil {
				return &fs.PathError{Op: "write", Path: path, Err: err}
			}
		}
		return os.WriteFile(path, []byte(value), 0o644)
	}
	return c, mount, own, writes
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCgroupV2DelegatedWithControllers(t *testing.T) {
	c, mount, own, writes := fakeDelegated(t, "cpuset cpu io memory pids", nil)
	c.setupUnprivilegedV2(mount, own, fakePID)
	dir := filepath.Join(mount, own)
	// The server leaves own first: only a cgroup without processes can
	// hand controllers down.
	want := []string{
		own + "/qv-server/cgroup.procs 4242",
		own + "/cgroup.subtree_control +memory",
		own + "/cgroup.subtree_control +pids",
		own + "/cgroup.subtree_control +cpu",
		own + "/quickvibe/cgroup.subtree_control +memory",
		own + "/quickvibe/cgroup.subtree_control +pids",
		own + "/quickvibe/cgroup.subtree_control +cpu",
	}
	if diff := cmp.Diff(want, *writes); diff != "" {
		t.Errorf("set-up writes (-want +got):\n%s", diff)
	}
	if c.v2 != filepath.Join(dir, cgroupParent) {
		t.Errorf("v2 parent %q, want %q", c.v2, filepath.Join(dir, cgroupParent))
	}
	rep := c.report()
	wantRep := CgroupReport{Enforced: map[string]string{ctlMemory: "cgroup v2", ctlPids: "cgroup v2", ctlCPU: "cgroup v2"}, Missing: map[string]string{}}
	if diff := cmp.Diff(wantRep, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	s, err := c.create("abc", Limits{MemoryBytes: 64 << 20, Pids: 32, CPU: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if s.v2 != filepath.Join(dir, cgroupParent, "qv-abc") {
		t.Errorf("sandbox cgroup %q", s.v2)
	}
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "32", "cpu.max": "50000 100000"} {
		if got := readString(t, filepath.Join(s.v2, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// A later engine of the same process finds the server in the leaf
	// already and uses the same parent instead of nesting another leaf.
	var writes2 []string
	c2 := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{}}
	c2.write = func(path, value string) error {
		writes2 = append(writes2, strings.TrimPrefix(path, mount)+" "+value)
		return os.WriteFile(path, []byte(value), 0o644)
	}
	c2.setupUnprivilegedV2(mount, own+"/"+serverLeaf, fakePID)
	if c2.v2 != c.v2 || len(c2.report().Missing) != 0 {
		t.Errorf("second engine: v2 parent %q, report %+v; want %q with every limit", c2.v2, c2.report(), c.v2)
	}
	for _, w := range writes2 {
		if strings.Contains(w, "cgroup.procs") {
			t.Errorf("second engine moved the server again: %s", w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, serverLeaf, serverLeaf)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("nested server leaf: %v", err)
	}
}

// TestCgroupV2DelegatedBusy: a delegated cgroup shared with other
// processes (a shell of the same session scope) cannot hand controllers
// down. The server moves only itself, and says why and how to fix it.
func TestCgroupV2DelegatedBusy(t *testing.T) {
	var c *cgroups
	var mount, own string
	c, mount, own, _ = fakeDelegated(t, "cpu memory pids", func(rel string) error {
		if rel == own+"/cgroup.subtree_control" {
			return syscall.EBUSY
		}
		return nil
	})
	dir := filepath.Join(mount, own)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.setupUnprivilegedV2(mount, own, fakePID)
	if got := readString(t, filepath.Join(dir, serverLeaf, "cgroup.procs")); got != "4242" {
		t.Errorf("server leaf's cgroup.procs %q, want the server", got)
	}
	if got := readString(t, filepath.Join(dir, "cgroup.procs")); got != "1\n" {
		t.Errorf("the other process was touched: cgroup.procs %q", got)
	}
	rep := c.report()
	if len(rep.Enforced) != 0 {
		t.Errorf("enforced %v", rep.Enforced)
	}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		for _, want := range []string{"the server's delegated cgroup " + dir + " holds other processes (1", "hand the " + ctl + " controller down", "systemd-run --user --scope -p Delegate=yes", "Delegate=yes in its systemd unit"} {
			if !strings.Contains(rep.Missing[ctl], want) {
				t.Errorf("%s: reason %q lacks %q", ctl, rep.Missing[ctl], want)
			}
		}
	}
	// Sandboxes still get cgroups of their own there (cgroup.kill).
	if c.v2 != filepath.Join(dir, cgroupParent) {
		t.Errorf("v2 parent %q", c.v2)
	}
}

// TestCgroupV2DelegatedNoControllers: a delegated cgroup that offers none
// of the controllers is still used, for a cgroup per sandbox.
func TestCgroupV2DelegatedNoControllers(t *testing.T) {
	c, mount, own, writes := fakeDelegated(t, "hugetlb", nil)
	c.setupUnprivilegedV2(mount, own, fakePID)
	dir := filepath.Join(mount, own)
	if diff := cmp.Diff([]string{own + "/qv-server/cgroup.procs 4242"}, *writes); diff != "" {
		t.Errorf("set-up writes (-want +got):\n%s", diff)
	}
	if c.v2 != filepath.Join(dir, cgroupParent) {
		t.Errorf("v2 parent %q", c.v2)
	}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		want := "the " + ctl + " controller is not delegated to the server's cgroup " + dir
		if got := c.report().Missing[ctl]; !strings.Contains(got, want) {
			t.Errorf("%s: reason %q, want %q", ctl, got, want)
		}
	}
}

// TestCgroupV2NotDelegated: a server not running as root whose cgroup is
// not delegated behaves as before (it tries mount/quickvibe, which only
// root can make) and the reason says how delegation gives it limits.
func TestCgroupV2NotDelegated(t *testing.T) {
	c, mount, own, writes := fakeDelegated(t, "cpu memory pids", nil)
	dir := filepath.Join(mount, own)
	// As root, the test cannot be denied write access; a cgroup without
	// a cgroup.subtree_control is not ours to manage either.
	if err := os.Remove(filepath.Join(dir, "cgroup.subtree_control")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("cpu memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Stands in for the permission an ordinary user lacks.
	if err := os.WriteFile(filepath.Join(mount, cgroupParent), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.setupUnprivilegedV2(mount, own, fakePID)
	if len(*writes) != 0 {
		t.Errorf("wrote %v", *writes)
	}
	if _, err := os.Stat(filepath.Join(dir, serverLeaf)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("server leaf made in a cgroup not delegated: %v", err)
	}
	if c.v2 != "" {
		t.Errorf("v2 parent %q, want none", c.v2)
	}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		for _, want := range []string{"cannot create " + filepath.Join(mount, cgroupParent), "only in a cgroup delegated to it, and its cgroup " + dir + " is not", "systemd-run --user --scope -p Delegate=yes"} {
			if got := c.report().Missing[ctl]; !strings.Contains(got, want) {
				t.Errorf("%s: reason %q lacks %q", ctl, got, want)
			}
		}
	}
}

// envV2Delegated names, in the child of TestCgroupV2DelegatedServer, the
// cgroup delegated to it.
const envV2Delegated = "QV_BWRAP_V2_DELEGATED"

// TestCgroupV2DelegatedServer starts a server as an ordinary user directly
// in a cgroup delegated to it (as `systemd-run --user --scope -p
// Delegate=yes` does), with the production detection: the server moves
// itself into the leaf qv-server, runs its sandboxes in cgroups under
// delegated/quickvibe, says which limits it cannot enforce and why, and
// leaves no sandbox cgroup behind.
func TestCgroupV2DelegatedServer(t *testing.T) {
	if dir := os.Getenv(envV2Delegated); dir != "" {
		delegatedServerChild(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to delegate a cgroup (CI runs the tests as root)")
	}
	delegated := makeTestCgroup(t, filepath.Join(unifiedMount(t), ownV2Path(t)))
	delegate(t, delegated)
	out := runUnprivilegedIn(t, delegated, "^TestCgroupV2DelegatedServer$", envV2Delegated+"="+delegated)
	if !strings.Contains(out, "--- PASS: TestCgroupV2DelegatedServer ") {
		t.Fatalf("server as uid %d did not pass:\n%s", unprivilegedUID, out)
	}
	// What the server leaves: its (now empty) leaf and an empty parent.
	var got []string
	err := filepath.WalkDir(delegated, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != delegated {
			got = append(got, strings.TrimPrefix(path, delegated))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/" + cgroupParent, "/" + serverLeaf}, got); diff != "" {
		t.Errorf("cgroups left in %s (-want +got):\n%s", delegated, diff)
	}
}

// delegatedServerChild is the server of TestCgroupV2DelegatedServer,
// started in the cgroup delegated.
func delegatedServerChild(t *testing.T, delegated string) {
	mount := unifiedMount(t)
	rel := strings.TrimPrefix(delegated, mount)
	if got := v2CgroupOf(os.Getpid()); got != "0::"+rel {
		t.Fatalf("the server starts in %q, want %q", got, "0::"+rel)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := newProvider(t, Config{Logger: log})
	parent := filepath.Join(delegated, cgroupParent)
	if p.cgroups.v2 != parent || len(p.cgroups.v1) != 0 {
		t.Fatalf("engine cgroups: v2 %q, v1 %v; want only v2 %q", p.cgroups.v2, p.cgroups.v1, parent)
	}
	if got, want := v2CgroupOf(os.Getpid()), "0::"+rel+"/"+serverLeaf; got != want {
		t.Errorf("the server is in %q, want %q", got, want)
	}
	if procs := cgroupProcs(t, delegated); len(procs) != 0 {
		t.Errorf("processes left in the delegated cgroup itself: %v", procs)
	}
	said := false
	for line := range strings.Lines(logs.String()) {
		said = said || strings.Contains(line, `msg="sandbox cgroups"`) && strings.HasSuffix(line, " parent="+parent+"\n")
	}
	if !said {
		t.Errorf("the log does not say where the sandbox cgroups are:\n%s", logs.String())
	}
	offered := v2Controllers(t, delegated)
	mounts, err := cgroupMounts()
	if err != nil {
		t.Fatal(err)
	}
	rep := p.cgroups.report()
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if offered[ctl] {
			if rep.Enforced[ctl] != "cgroup v2" {
				t.Errorf("%s: delegated, but the report says %+v", ctl, rep)
			}
			continue
		}
		why := "the " + ctl + " controller is not delegated to the server's cgroup " + delegated
		if _, v1 := mounts[ctl]; v1 {
			// The test VM: memory, pids and cpu are bound to v1.
			why = ctl + " is a cgroup v1 controller, which only a server running as root can use"
		}
		if !strings.Contains(rep.Missing[ctl], why) {
			t.Errorf("%s: report %+v; want it missing because %q", ctl, rep, why)
		}
		checkLimitWarning(t, logs.String(), ctl, why)
	}

	id := create(t, p)
	s := p.cgroups.lookup(id)
	if s.v2 != filepath.Join(parent, cgroupPrefix+id) {
		t.Fatalf("sandbox cgroup %q", s.v2)
	}
	pids := checkSandboxTree(t, p, mount, id)

	// Another engine of the same process uses the same parent.
	p2 := newProvider(t, Config{})
	if p2.cgroups.v2 != parent {
		t.Errorf("second engine's parent %q, want %q", p2.cgroups.v2, parent)
	}
	if got, want := v2CgroupOf(os.Getpid()), "0::"+rel+"/"+serverLeaf; got != want {
		t.Errorf("after a second engine the server is in %q, want %q", got, want)
	}

	for _, e := range []*Provider{p, p2} {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitDead(t, pids)
	if _, err := os.Stat(s.v2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox cgroup %s still there: %v", s.v2, err)
	}
}
