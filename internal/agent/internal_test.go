package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		old, new    string
		wantAdded   int
		wantRemoved int
	}{
		{name: "create", old: "", new: "a\nb\nc\n", wantAdded: 3},
		{name: "no final newline", old: "", new: "a\nb", wantAdded: 2},
		{name: "delete all", old: "a\nb\n", new: "", wantRemoved: 2},
		{name: "same", old: "a\nb\n", new: "a\nb\n"},
		{name: "change one line", old: "a\nb\nc\n", new: "a\nB\nc\n", wantAdded: 1, wantRemoved: 1},
		{name: "insert in the middle", old: "a\nc\n", new: "a\nb\nc\n", wantAdded: 1},
		{name: "remove in the middle", old: "a\nb\nc\n", new: "a\nc\n", wantRemoved: 1},
		{name: "move a line", old: "a\nb\nc\nd\n", new: "b\nc\nd\na\n", wantAdded: 1, wantRemoved: 1},
		{name: "interleaved", old: "a\nx\nb\ny\nc\n", new: "a\nb\nz\nc\n", wantAdded: 1, wantRemoved: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			added, removed := lineDiff(tt.old, tt.new)
			if diff := cmp.Diff([2]int{tt.wantAdded, tt.wantRemoved}, [2]int{added, removed}); diff != "" {
				t.Errorf("lineDiff() [added removed] mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineDiffLargeFallsBack(t *testing.T) {
	t.Parallel()
	var a, b strings.Builder
	for i := range 5000 {
		a.WriteString("old line " + string(rune('a'+i%26)) + "\n")
		b.WriteString("new line " + string(rune('a'+i%26)) + "\n")
	}
	added, removed := lineDiff(a.String(), b.String())
	if added != 5000 || removed != 5000 {
		t.Errorf("lineDiff() = +%d -%d, want +5000 -5000", added, removed)
	}
}

func TestClipping(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 3000) // 6000 bytes
	if got := tailExcerpt(long, 2048); !strings.HasPrefix(got, "…é") || len(got) > 2048+len("…") {
		t.Errorf("tailExcerpt cut a rune or kept too much: %d bytes", len(got))
	}
	clipped := clipMiddle(long, 1000)
	if !strings.Contains(clipped, "bytes omitted") || len(clipped) > 1100 {
		t.Errorf("clipMiddle() = %d bytes", len(clipped))
	}
	if got := truncateUTF8("héllo", 2); got != "h" {
		t.Errorf("truncateUTF8() = %q", got)
	}
}

func TestToolSchemas(t *testing.T) {
	t.Parallel()
	for _, tool := range toolDefs(DefaultCommandTimeout) {
		var schema struct {
			Type       string
			Properties map[string]struct{ Type string }
			Required   []string
		}
		if err := json.Unmarshal(tool.Schema, &schema); err != nil {
			t.Errorf("%s: schema is not JSON: %v", tool.Name, err)
			continue
		}
		if schema.Type != "object" || len(schema.Properties) == 0 || tool.Description == "" {
			t.Errorf("%s: schema %s or description %q is incomplete", tool.Name, tool.Schema, tool.Description)
		}
		for _, r := range schema.Required {
			if _, ok := schema.Properties[r]; !ok {
				t.Errorf("%s: required %q is not a property", tool.Name, r)
			}
		}
	}
}
