package cli

import (
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

func TestDoctorChecksDaytona(t *testing.T) {
	fake := daytonatest.OnBwrap(t, daytonatest.Options{Snapshots: []string{"qv-node"}})

	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"healthy", map[string]string{"DAYTONA_API_KEY": daytonatest.DefaultAPIKey, "DAYTONA_SNAPSHOT": "qv-node"}, 0,
			[]string{"ok    daytona ", "snapshot qv-node exists", "ok    daytona previews", "through QuickVibe's preview proxy"}},
		{"wrong key", map[string]string{"DAYTONA_API_KEY": "dtn_wrong", "DAYTONA_SNAPSHOT": "qv-node"}, 1,
			[]string{"FAIL  daytona", "DAYTONA_API_KEY"}},
		{"unknown snapshot", map[string]string{"DAYTONA_API_KEY": daytonatest.DefaultAPIKey, "DAYTONA_SNAPSHOT": "nope"}, 1,
			[]string{"FAIL  daytona", "nope", "DAYTONA_SNAPSHOT"}},
		{"default snapshot, signed previews", map[string]string{"DAYTONA_API_KEY": daytonatest.DefaultAPIKey, "QV_DAYTONA_PREVIEW": "signed"}, 0,
			[]string{"ok    daytona ", "WARN  daytona snapshot", "DAYTONA_SNAPSHOT is not set", "signed preview URLs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{
				"QV_DATA_DIR": t.TempDir(), "ANTHROPIC_API_KEY": "sk-test",
				"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_URL": fake.APIURL(),
			}
			for k, v := range tt.env {
				env[k] = v
			}
			code, out := runDoctor(t, env)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			if strings.Contains(out, "bubblewrap") {
				t.Errorf("the Daytona engine's check talks about bubblewrap:\n%s", out)
			}
		})
	}
}
