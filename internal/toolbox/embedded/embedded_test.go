package embedded

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// make test builds the toolbox before the tests (make toolbox), so a
// missing one means the build lost it, not that the test may pass.
func TestToolboxIsEmbeddedStaticAndActsAsToolbox(t *testing.T) {
	exe := Toolbox()
	if exe == nil {
		t.Fatal("no toolbox executable embedded: run make toolbox (make build and make test do) before go test")
	}
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("embedded toolbox is not an ELF executable: %v", err)
	}
	for _, p := range f.Progs {
		// A dynamic loader costs every sandbox start its relocations; the
		// toolbox must be built with CGO_ENABLED=0.
		if p.Type == elf.PT_INTERP {
			t.Error("embedded toolbox is dynamically linked (has PT_INTERP)")
		}
	}
	if _, err := f.Section(".go.buildinfo").Data(); err != nil {
		t.Errorf("embedded toolbox has no Go build info: %v", err)
	}

	// The engine binds it as qv-toolbox and qv-serve; it dispatches on
	// that name like the server binary does.
	path := filepath.Join(t.TempDir(), "qv-toolbox")
	if err := os.WriteFile(path, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != toolbox.VersionLine {
		t.Errorf("qv-toolbox version = %q, %v; want %q", out, err, toolbox.VersionLine)
	}
	other := filepath.Join(t.TempDir(), "something-else")
	if err := os.WriteFile(other, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(other, "version").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "run it as qv-toolbox or qv-serve") {
		t.Errorf("started under another name: exit %d, %q; want exit 2 and a hint", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
