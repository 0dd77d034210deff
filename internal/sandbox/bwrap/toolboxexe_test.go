package bwrap

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// buildToolbox builds cmd/qv-toolbox the way `make toolbox` does (the
// executable a server built by make embeds) and returns its content.
func buildToolbox(tb testing.TB) []byte {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "qv-toolbox")
	cmd := exec.CommandContext(tb.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "../../../cmd/qv-toolbox")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build the toolbox: %v: %s", err, msg)
	}
	exe, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return exe
}

func TestToolboxExecutableRunsSandboxes(t *testing.T) {
	exe := buildToolbox(t)
	p := newProvider(t, Config{ToolboxExecutable: exe})
	id := create(t, p)

	// The sandbox runs exactly the given executable, as the toolbox (pid 2,
	// after bwrap's pid 1) and as qv-serve.
	sum := sha256.Sum256(exe)
	got := run(t, p, id, "sha256sum < /opt/quickvibe/bin/qv-toolbox; readlink /opt/quickvibe/bin/qv-serve; tr '\\0' ' ' < /proc/2/cmdline")
	want := hex.EncodeToString(sum[:]) + "  -\nqv-toolbox\n/opt/quickvibe/bin/qv-toolbox serve"
	if got.ExitCode != 0 || !strings.HasPrefix(got.Output, want) {
		t.Errorf("inside the sandbox:\n%s\nwant it to start with:\n%s", got.Output, want)
	}
	if err := p.WriteFile(t.Context(), id, "index.html", []byte("<h1>small</h1>")); err != nil {
		t.Fatal(err)
	}
	if err := p.StartProcess(t.Context(), id, sandbox.ProcessRequest{Name: "web", Command: "qv-serve --port 3000 --dir ."}); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, p, id, 3000); got != "<h1>small</h1>" {
		t.Errorf("qv-serve answers %q", got)
	}
	// Stop and start again: the installed copy is still there and used.
	if err := p.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if got := run(t, p, id, "sha256sum < /opt/quickvibe/bin/qv-toolbox"); got.Output != hex.EncodeToString(sum[:])+"  -\n" {
		t.Errorf("after a restart the sandbox runs %q", got.Output)
	}
}

func TestToolboxExecutableMustBeAnExecutable(t *testing.T) {
	_, err := New(t.Context(), Config{Dir: t.TempDir(), ToolboxExecutable: []byte("#!/bin/sh\necho qv-toolbox ok\n"), Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
		t.Errorf("New() = %v, want it to refuse a toolbox that is not an ELF executable", err)
	}
}
