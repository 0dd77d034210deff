package sandbox

import (
	"errors"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"", ".", nil},
		{".", ".", nil},
		{"a/b/../c", "", ErrPathEscapes},
		{"a//b/./c/", "a/b/c", nil},
		{"./a", "a", nil},
		{"..", "", ErrPathEscapes},
		{"../a", "", ErrPathEscapes},
		{"/a", "", ErrPathEscapes},
		{"a\x00", "", ErrPathEscapes},
		{"..a/b..", "..a/b..", nil},
		{"./src/main.ts", "src/main.ts", nil},
		{"/etc/passwd", "", ErrPathEscapes},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSkipListing(t *testing.T) {
	for name, want := range map[string]bool{"node_modules": true, ".git": true, "src": false, ".github": false} {
		if got := SkipListing(name); got != want {
			t.Errorf("SkipListing(%q) = %v, want %v", name, got, want)
		}
	}
}
