package daytona

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// usageScript sums over /proc what every process of the sandbox uses and
// measures the workspace: one exec, no extra tooling in the image. cat
// skips processes that end meanwhile (awk might stop on them). It prints
// "qvusage <rss KiB> <cpu ticks> <processes> <ticks/s> <disk KiB>".
const usageScript = `m=$(cat /proc/[0-9]*/status 2>/dev/null | awk '/^VmRSS:/ {m += $2} END {print m + 0}'); ` +
	`c=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '{s = $0; sub(/^.*\) /, "", s); split(s, f, " "); c += f[12] + f[13]; n++} END {print c + 0, n + 0}'); ` +
	`hz=$(getconf CLK_TCK 2>/dev/null || echo 100); ` +
	`d=$(du -sk . 2>/dev/null | cut -f1); ` +
	`echo "qvusage $m $c $hz ${d:-0}"`

// Usage implements sandbox.Provider with one exec of usageScript, so
// Source is "procfs"; PIDs count the toolbox daemon and the probe itself
// too. A stopped sandbox cannot run it: Usage then wraps
// sandbox.ErrNotRunning, DiskBytes included (Daytona does not report a
// stopped sandbox's disk use).
func (p *Provider) Usage(ctx context.Context, id string) (sandbox.Usage, error) {
	res, err := p.Exec(ctx, id, sandbox.ExecRequest{Command: usageScript, Timeout: 30 * time.Second})
	if err != nil {
		return sandbox.Usage{}, fmt.Errorf("usage of sandbox %s: %w", id, err)
	}
	if res.ExitCode != 0 || res.TimedOut {
		return sandbox.Usage{}, fmt.Errorf("usage of sandbox %s: probe failed (exit %d): %s", id, res.ExitCode, truncate(res.Output, 200))
	}
	return parseUsage(res.Output)
}

func parseUsage(out string) (sandbox.Usage, error) {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != "qvusage" {
			continue
		}
		var n [5]int64
		for i := range n {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil || v < 0 {
				return sandbox.Usage{}, fmt.Errorf("usage probe printed %q", strings.TrimSpace(line))
			}
			n[i] = v
		}
		rssKiB, ticks, procs, hz, diskKiB := n[0], n[1], n[2], n[3], n[4]
		if hz <= 0 {
			hz = 100
		}
		return sandbox.Usage{
			MemoryBytes: rssKiB << 10,
			CPUTime:     time.Duration(ticks) * time.Second / time.Duration(hz),
			PIDs:        int(procs),
			DiskBytes:   diskKiB << 10,
			Source:      "procfs",
		}, nil
	}
	return sandbox.Usage{}, fmt.Errorf("usage probe printed no result: %s", truncate(out, 200))
}
