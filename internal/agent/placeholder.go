package agent

import (
	"regexp"
	"strings"
)

// placeholderRE matches the ways models elide code they meant to keep, such
// as "// ... existing code ..." or "<!-- rest of the file unchanged -->".
// Written to a file, such a marker silently deletes what it stands for.
var placeholderRE = regexp.MustCompile(`(?i)(` +
	`rest of (the )?(code|file|content|styles?|markup|html|css|script|component|functions?)( remains?| is| stays?)? (unchanged|the same|as before|omitted)` +
	`|\.\.\.\s*(existing|previous|other|remaining|unchanged|same|original) (code|content|styles?|markup|html|css|functions?|logic)` +
	`|(existing|previous|original|other) (code|content|styles?|markup|functions?) (here|unchanged|remains|stays|goes here|omitted)` +
	`|keep (the )?(existing|original|previous) (code|content|styles?)` +
	`|code (omitted|unchanged) for brevity` +
	`)`)

// placeholderMarker returns the first elision marker in content that was not
// already in old, or "" when there is none. Markers already present in the
// file are the user's own text and do not block a write.
func placeholderMarker(old, content string) string {
	for _, m := range placeholderRE.FindAllString(content, -1) {
		if !strings.Contains(strings.ToLower(old), strings.ToLower(m)) {
			return m
		}
	}
	return ""
}
