package daytonatest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The fake is test code: only tests may import it.
func TestOnlyTestsImportTheFake(t *testing.T) {
	const self = "github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
	out, err := exec.CommandContext(t.Context(), "go", "list", "-e", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "github.com/quickvibe/quickvibe/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found only %d packages:\n%s", len(lines), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if imp == self {
				t.Errorf("non-test code of %s imports the fake Daytona", fields[0])
			}
		}
	}
}
