package agent

import (
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/project"
)

// Every project type users can pick has a system prompt of its own.
func TestEveryProjectTypeHasAPrompt(t *testing.T) {
	seen := map[string]bool{}
	for _, pt := range project.Types() {
		p, err := systemPrompt(pt.ID)
		if err != nil {
			t.Errorf("project type %s: %v", pt.ID, err)
			continue
		}
		if !strings.Contains(p, "Project type: "+pt.ID) {
			t.Errorf("the prompt of %s does not name its type", pt.ID)
		}
		if seen[p] {
			t.Errorf("the prompt of %s is shared with another type", pt.ID)
		}
		seen[p] = true
	}
}
