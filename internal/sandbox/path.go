package sandbox

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// CleanPath validates a workspace-relative path, as every engine takes
// them, and returns it cleaned; the workspace root itself is ".". Absolute
// paths and ".." elements are refused outright (ErrPathEscapes) rather
// than resolved.
func CleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path contains a NUL byte: %w", ErrPathEscapes)
	}
	if path.IsAbs(p) {
		return "", fmt.Errorf("path %q is absolute: %w", p, ErrPathEscapes)
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "", fmt.Errorf("path %q contains '..': %w", p, ErrPathEscapes)
	}
	if p == "" {
		return ".", nil
	}
	return path.Clean(p), nil
}

// SkipListing reports whether ListFiles shows a directory of this name but
// not what is in it: such directories are huge and generated.
func SkipListing(dirName string) bool {
	return dirName == "node_modules" || dirName == ".git"
}
