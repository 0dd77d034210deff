package bwrap

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unprivilegedUID runs the engine as an ordinary user (nobody).
const unprivilegedUID = 65534

// TestUnprivilegedServer runs a selection of the suite again in a child
// process that is an ordinary user, the way a server started by a normal
// account runs: bwrap then isolates with a user namespace of that user
// instead of a per-sandbox uid, and without root's cgroup set-up.
func TestUnprivilegedServer(t *testing.T) {
	if os.Getenv("QV_BWRAP_UNPRIVILEGED_CHILD") != "" {
		return // already the child
	}
	if os.Geteuid() != 0 {
		// The whole suite already runs unprivileged.
		return
	}
	tests := "^(TestExec|TestHostOwnership|TestNothingOfTheHostLeaksIn|TestStopStart|TestEgressThroughSandbox|TestEscapePtrace|TestEscapeKernelSurfaces|TestEscapeEnvAndArgv|TestEscapeSetuid|TestEscapeHostLoopback)$"
	cmd := unprivilegedChild(t, tests, "QV_BWRAP_UNPRIVILEGED_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("suite as uid %d: %v\n%s", unprivilegedUID, err, out)
	}
	for _, name := range []string{"TestExec", "TestEgressThroughSandbox", "TestEscapeKernelSurfaces", "TestHostOwnership"} {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass as uid %d:\n%s", name, unprivilegedUID, out)
		}
	}
	// Without root, v1 cgroups cannot be used: the server must have said so.
	if !strings.Contains(string(out), "sandbox limit NOT enforced") {
		t.Errorf("no warning about unenforced limits:\n%s", out)
	}
}

// unprivilegedChild returns a command that runs the tests of this test
// binary matching run as unprivilegedUID, from a copy of the binary and a
// temporary directory that user can reach, with env added to a minimal
// environment.
func unprivilegedChild(t *testing.T, run string, env ...string) *exec.Cmd {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(base, "bwrap.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, unprivilegedUID, unprivilegedUID); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run="+run, "-test.count=1", "-test.v")
	cmd.Dir = tmp
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + tmp, "TMPDIR=" + tmp}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivilegedUID, Gid: unprivilegedUID, Groups: []uint32{}}}
	return cmd
}
