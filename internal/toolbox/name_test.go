package toolbox

import (
	"strings"
	"testing"
)

func TestValidProcessName(t *testing.T) {
	for name, want := range map[string]bool{
		"devserver": true, "a": true, "A.b_c-9": true, "0": true,
		strings.Repeat("x", 64): true, strings.Repeat("x", 65): false,
		"": false, ".hidden": false, "-x": false, "_x": false, "../x": false,
		"a/b": false, "a b": false, "é": false, "a\n": false,
	} {
		if got := validProcessName(name); got != want {
			t.Errorf("validProcessName(%q) = %v, want %v", name, got, want)
		}
	}
}
