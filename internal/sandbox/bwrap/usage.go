package bwrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// ProcessLogs implements sandbox.Provider.
func (p *Provider) ProcessLogs(ctx context.Context, id string, req sandbox.LogsRequest, fn func(sandbox.LogLine) error) error {
	in, err := p.runningInstance(id)
	if err != nil {
		return err
	}
	if err := in.client.ProcessLogs(ctx, req, fn); err != nil {
		if errors.Is(err, toolbox.ErrProcessNotFound) || ctx.Err() != nil {
			return err
		}
		return in.callError("process logs", err)
	}
	return nil
}

// OpenTerminal implements sandbox.Provider.
func (p *Provider) OpenTerminal(ctx context.Context, id string, cols, rows int) (sandbox.Terminal, error) {
	in, err := p.runningInstance(id)
	if err != nil {
		return nil, err
	}
	t, err := in.client.OpenTerminal(ctx, cols, rows)
	if err != nil {
		return nil, in.callError("open terminal", err)
	}
	return t, nil
}

// Usage implements sandbox.Provider. Memory (resident set), CPU time and
// pids are summed over the sandbox's processes from /proc: every
// descendant of the bwrap process we started, which includes everything
// in the sandbox's pid namespace (orphans are re-parented to its pid 1).
// Disk is the allocated size of the workspace.
func (p *Provider) Usage(ctx context.Context, id string) (sandbox.Usage, error) {
	if _, err := p.readMeta(id); err != nil {
		return sandbox.Usage{}, err
	}
	var u sandbox.Usage
	disk, err := diskUsage(ctx, filepath.Join(p.sandboxDir(id), "workspace"))
	if err != nil {
		return sandbox.Usage{}, fmt.Errorf("sandbox %s: disk usage: %w", id, err)
	}
	u.DiskBytes = disk
	in := p.instance(id)
	if in == nil {
		return u, nil
	}
	cg := readCgroupUsage(in.cgroup)
	if cg.complete() {
		u.Source = "cgroup"
		u.MemoryBytes, u.PIDs, u.CPUTime = *cg.mem, *cg.pids, *cg.cpu
		return u, nil
	}
	var proc sandbox.Usage
	pids, err := descendants(in.cmd.Process.Pid)
	if err != nil {
		return sandbox.Usage{}, fmt.Errorf("sandbox %s: list processes: %w", id, err)
	}
	for _, pid := range pids {
		st, ok := readProcStat(pid)
		if !ok {
			continue // exited meanwhile
		}
		proc.PIDs++
		proc.MemoryBytes += st.rss
		proc.CPUTime += st.cpu
	}
	u.Source = "procfs"
	u.MemoryBytes, u.PIDs, u.CPUTime = proc.MemoryBytes, proc.PIDs, proc.CPUTime
	if cg.mem != nil || cg.pids != nil || cg.cpu != nil {
		u.Source = "cgroup+procfs"
		if cg.mem != nil {
			u.MemoryBytes = *cg.mem
		}
		if cg.pids != nil {
			u.PIDs = *cg.pids
		}
		if cg.cpu != nil {
			u.CPUTime = *cg.cpu
		}
	}
	return u, nil
}

// cgroupUsage holds what the sandbox's own cgroups report; nil where the
// host gave it no such controller.
type cgroupUsage struct {
	mem  *int64
	pids *int
	cpu  *time.Duration
}

func (c cgroupUsage) complete() bool { return c.mem != nil && c.pids != nil && c.cpu != nil }

// readCgroupUsage reads memory (memory.current / memory.usage_in_bytes,
// which count page cache too), pids and CPU time from the sandbox's
// cgroups, v2 first, then v1.
func readCgroupUsage(cg *sandboxCgroup) cgroupUsage {
	var u cgroupUsage
	if cg == nil {
		return u
	}
	readInt := func(path string) (int64, bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	if cg.v2 != "" {
		if n, ok := readInt(filepath.Join(cg.v2, "memory.current")); ok {
			u.mem = &n
		}
		if n, ok := readInt(filepath.Join(cg.v2, "pids.current")); ok {
			p := int(n)
			u.pids = &p
		}
		if b, err := os.ReadFile(filepath.Join(cg.v2, "cpu.stat")); err == nil {
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "usage_usec "); ok {
					if n, err := strconv.ParseInt(v, 10, 64); err == nil {
						d := time.Duration(n) * time.Microsecond
						u.cpu = &d
					}
				}
			}
		}
	}
	if dir := cg.v1[ctlMemory]; dir != "" && u.mem == nil {
		if n, ok := readInt(filepath.Join(dir, "memory.usage_in_bytes")); ok {
			u.mem = &n
		}
	}
	if dir := cg.v1[ctlPids]; dir != "" && u.pids == nil {
		if n, ok := readInt(filepath.Join(dir, "pids.current")); ok {
			p := int(n)
			u.pids = &p
		}
	}
	if dir := cg.v1[ctlCPU]; dir != "" && u.cpu == nil {
		// cpu and cpuacct share one v1 hierarchy on the usual hosts.
		if n, ok := readInt(filepath.Join(dir, "cpuacct.usage")); ok {
			d := time.Duration(n)
			u.cpu = &d
		}
	}
	return u
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

type procStat struct {
	ppid int
	cpu  time.Duration
	rss  int64
}

// readProcStat parses /proc/PID/stat (world-readable, also for the
// toolbox, which is not dumpable).
func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) is in parentheses and may contain
	// anything; the fields after the last ')' are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
	if len(f) < 22 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return procStat{
		ppid: ppid,
		cpu:  time.Duration(utime+stime) * time.Second / clockTicks,
		rss:  rss * int64(os.Getpagesize()),
	}, true
}

// descendants returns root and every process below it.
func descendants(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := make(map[int][]int)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProcStat(pid)
		if !ok {
			continue
		}
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// diskUsage sums the allocated blocks below dir without following links.
func diskUsage(ctx context.Context, dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}
