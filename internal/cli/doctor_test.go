package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The doctor's probe sandbox runs the embedded toolbox (make test builds
// it), or this test binary when there is none.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

func runDoctor(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := Main(context.Background(), []string{"doctor"}, getenv, strings.NewReader(""), &out, &out)
	return code, out.String()
}

func TestDoctorHealthyHost(t *testing.T) {
	code, out := runDoctor(t, map[string]string{"QV_DATA_DIR": t.TempDir(), "ANTHROPIC_API_KEY": "sk-test"})
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"bubblewrap 0.", "namespaces work (a test sandbox ran)", "ok    data directory", "ok    model",
		"ok    seccomp", "registry.npmjs.org, pypi.org", "ok    browser check",
		"ok    sandbox toolbox", "embedded static executable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Each limit is reported either as enforced or, with a reason, as not.
	for _, l := range []string{"memory limit", "process limit", "CPU limit"} {
		if !strings.Contains(out, l) || (!strings.Contains(out, "enforced via cgroup") && !strings.Contains(out, "NOT enforced")) {
			t.Errorf("limit %q not reported:\n%s", l, out)
		}
	}
	if os.Geteuid() == 0 && !strings.Contains(out, "1024 MiB per sandbox, enforced via cgroup") {
		t.Errorf("as root on this host the memory limit should be enforceable:\n%s", out)
	}
	if !strings.Contains(out, "WARN  workspace disk") {
		t.Errorf("the unenforced workspace limit must be said:\n%s", out)
	}
}

func TestDoctorReportsWhatIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no bwrap
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runDoctor(t, map[string]string{"QV_DATA_DIR": file + "/sub", "QV_EGRESS_ALLOW": "http://bad"})
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"FAIL  bubblewrap", "FAIL  data directory", "FAIL  model", "FAIL  egress allowlist", "WARN  browser check", "something the server needs is missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
