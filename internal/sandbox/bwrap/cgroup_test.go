package bwrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test VM's cgroup2 hierarchy has no controllers (memory, pids and cpu
// are v1 there), so the v2 limit files cannot be written for real: this
// test checks them against a fake cgroupfs directory. Everything else of
// the v2 path (CLONE_INTO_CGROUP, cgroup.procs, cgroup.kill, rmdir, the
// clean-up of a crashed server's cgroups, the report of unenforced limits)
// runs for real in cgroupv2_test.go; the v1 path runs for real in the
// escape and abuse suite.
func TestCgroupV2FileWrites(t *testing.T) {
	mount := t.TempDir()
	if err := os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{
		ctlMemory: "x", ctlPids: "x", ctlCPU: "x", ctlFreezer: "x",
	}}
	c.setupV2(mount)
	if c.v2 != filepath.Join(mount, cgroupParent) {
		t.Fatalf("v2 parent %q", c.v2)
	}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if !c.v2Ctl[ctl] {
			t.Errorf("%s not enabled", ctl)
		}
	}
	if len(c.missing) != 0 {
		t.Errorf("still missing: %v", c.missing)
	}
	rep := c.report()
	if rep.Enforced[ctlMemory] != "cgroup v2" || len(rep.Missing) != 0 {
		t.Errorf("report %+v", rep)
	}

	s, err := c.create("abc", Limits{MemoryBytes: 64 << 20, Pids: 32, CPU: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if s.v2 != filepath.Join(mount, cgroupParent, "qv-abc") || len(s.v1) != 0 {
		t.Errorf("cgroup %+v: want only a v2 dir, joined with CLONE_INTO_CGROUP", s)
	}
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "32", "cpu.max": "50000 100000"} {
		b, err := os.ReadFile(filepath.Join(s.v2, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	cmd, err := (&Provider{asRoot: false}).bwrapCommand("/usr/bin/bwrap", s, []string{"bwrap"})
	if err != nil {
		t.Fatal(err)
	}
	if !cmd.SysProcAttr.UseCgroupFD || cmd.SysProcAttr.CgroupFD <= 2 {
		t.Errorf("bwrap not started into the cgroup: %+v", cmd.SysProcAttr)
	}
	os.NewFile(uintptr(cmd.SysProcAttr.CgroupFD), "cg").Close()
}

func TestCgroupReportWithoutHierarchies(t *testing.T) {
	c := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{ctlMemory: "no memory controller"}}
	rep := c.report()
	if len(rep.Enforced) != 0 || !strings.Contains(rep.Missing[ctlMemory], "no memory controller") {
		t.Errorf("report %+v", rep)
	}
}

func TestSweepStaleCgroups(t *testing.T) {
	parent := t.TempDir()
	for _, name := range []string{"qv-old", "qv-new", "other-old"} {
		if err := os.Mkdir(filepath.Join(parent, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleAge)
	for _, name := range []string{"qv-old", "other-old"} {
		if err := os.Chtimes(filepath.Join(parent, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	c := &cgroups{v1: map[string]string{ctlPids: parent}, v2Ctl: map[string]bool{}}
	c.sweepStale()
	for name, want := range map[string]bool{"qv-old": false, "qv-new": true, "other-old": true} {
		if _, err := os.Stat(filepath.Join(parent, name)); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", name, err == nil, want)
		}
	}
}
