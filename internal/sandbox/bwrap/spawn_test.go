package bwrap

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStageDir(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{"/usr/bin/bwrap", "/var/lib/quickvibe/sandboxes/x/workspace"}, "/tmp"},
		// Test state dirs live under /tmp: the stage must not cover them.
		{[]string{"/usr/bin/bwrap", "/tmp/TestX/001/x/workspace", "/tmp/TestX/001/.toolbox/qv-toolbox"}, "/mnt"},
		{[]string{"/tmp", "/mnt/x"}, "/media"},
		// A prefix of a name is not an ancestor.
		{[]string{"/tmpfoo/x"}, "/tmp"},
	}
	for _, tt := range tests {
		if _, err := os.Stat(tt.want); err != nil {
			t.Fatalf("%s: %v; the test expects a Debian-like host", tt.want, err)
		}
		got, err := stageDir(tt.paths)
		if err != nil || got != tt.want {
			t.Errorf("stageDir(%q) = %q, %v; want %s", tt.paths, got, err, tt.want)
		}
	}
	if _, err := stageDir(stageCandidates); err == nil {
		t.Error("stageDir with every candidate taken succeeded")
	}
}

// TestLaunchLeavesServerAlone: starting a sandbox as root happens on a
// thread of the server with a mount namespace and cgroups of its own for
// the moment. Nothing of it may stick to the server: its mounts are as
// before, and no thread of it is left in the sandbox's cgroups, where the
// sandbox's limits, freezer and kill would reach it.
func TestLaunchLeavesServerAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CI runs the tests as root); the unprivileged launch is plain exec")
	}
	mounts := func() string {
		b, err := os.ReadFile("/proc/thread-self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := mounts()
	p := newProvider(t, Config{})
	id := create(t, p)
	if diff := cmp.Diff(before, mounts()); diff != "" {
		t.Errorf("the server's mounts changed (-before +after):\n%s", diff)
	}
	// /proc/self is the main thread's view, which every thread reads.
	mainNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := os.Readlink("/proc/thread-self/ns/mnt"); err != nil || ns != mainNS {
		t.Errorf("the main thread's mount namespace is %s, other threads' %s (%v)", mainNS, ns, err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	s := p.cgroups.lookup(id)
	if len(s.v1) == 0 && s.v2 == "" {
		t.Fatal("no sandbox cgroups on this host; the check below would prove nothing")
	}
	inSandboxCgroup := map[string]bool{}
	dirs := []string{s.v2}
	for _, d := range s.v1 {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		for _, file := range []string{"cgroup.procs", "cgroup.threads", "tasks"} {
			b, err := os.ReadFile(filepath.Join(d, file))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				inSandboxCgroup[f] = true
			}
		}
	}
	if len(inSandboxCgroup) == 0 {
		t.Fatal("sandbox cgroups list no process; the check below would prove nothing")
	}
	if inSandboxCgroup[strconv.Itoa(os.Getpid())] {
		t.Errorf("the server's pid is in the sandbox's cgroups")
	}
	for _, task := range tasks {
		if inSandboxCgroup[task.Name()] {
			t.Errorf("server thread %s is in the sandbox's cgroups", task.Name())
		}
	}
	if err := p.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}
