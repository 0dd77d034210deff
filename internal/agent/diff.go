package agent

import "strings"

// maxDiffCells bounds the work of the exact line diff; beyond it a cheaper
// estimate is good enough for a "+N -M" badge.
const maxDiffCells = 4_000_000

// lineDiff counts the lines added and removed to turn old into new, as a
// line-based diff (longest common subsequence) would.
func lineDiff(old, new string) (added, removed int) {
	a, b := splitLines(old), splitLines(new)
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	var common int
	if len(a)*len(b) <= maxDiffCells {
		common = lcsLen(a, b)
	} else {
		common = sharedLines(a, b)
	}
	return len(b) - common, len(a) - common
}

// splitLines splits s into lines; a final newline does not start another.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func countLines(s string) int { return len(splitLines(s)) }

// lcsLen is the length of the longest common subsequence, in O(len(b)) space.
func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			switch {
			case a[i] == b[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sharedLines counts lines both sides have, ignoring order: an upper bound of
// the common subsequence that is linear to compute.
func sharedLines(a, b []string) int {
	counts := make(map[string]int, len(a))
	for _, l := range a {
		counts[l]++
	}
	n := 0
	for _, l := range b {
		if counts[l] > 0 {
			counts[l]--
			n++
		}
	}
	return n
}
