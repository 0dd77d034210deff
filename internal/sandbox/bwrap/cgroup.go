package bwrap

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are the resource limits of every sandbox. Zero means no limit.
type Limits struct {
	// MemoryBytes caps memory, page cache and tmpfs pages included (swap
	// is not allowed on top).
	MemoryBytes int64
	// Pids caps processes plus threads.
	Pids int
	// CPU is the CPU bandwidth in cores, e.g. 1.0 or 0.5.
	CPU float64
	// TmpBytes is the size of the sandbox's /tmp (a tmpfs; its pages also
	// count against MemoryBytes). Zero means 256 MiB.
	TmpBytes int64
	// DiskBytes is the workspace size (zero: no limit): see diskquota.go.
	DiskBytes int64
}

// DefaultLimits are the limits when the configuration gives none.
var DefaultLimits = Limits{MemoryBytes: 1 << 30, Pids: 256, CPU: 1, TmpBytes: 256 << 20}

// Controllers a sandbox uses. freezer (v1 only) stops the tree before
// killing it; v2 has cgroup.kill instead.
const (
	ctlMemory  = "memory"
	ctlPids    = "pids"
	ctlCPU     = "cpu"
	ctlFreezer = "freezer"
)

// cgroupPrefix names every sandbox's cgroup ("qv-" + sandbox id) under a
// "quickvibe" directory of each hierarchy.
const (
	cgroupParent = "quickvibe"
	cgroupPrefix = "qv-"
)

// cgroups knows where this host lets us create sandbox cgroups: per
// controller, a parent directory in either the unified (v2) hierarchy or a
// v1 hierarchy.
type cgroups struct {
	// v1 maps a controller to the parent directory for sandbox cgroups in
	// its v1 hierarchy.
	v1 map[string]string
	// v2 is the parent directory in the unified hierarchy ("" if unused),
	// v2Ctl the controllers enabled there.
	v2    string
	v2Ctl map[string]bool
	// write writes a cgroup file during set-up; nil is os.WriteFile.
	// Tests inject the kernel's errors (EBUSY) that a fake cgroupfs
	// cannot return.
	write func(path, value string) error
	// missing explains, per limit that cannot be enforced, why.
	missing map[string]string
}

// CgroupReport says which limits a server can enforce on this host.
type CgroupReport struct {
	// Enforced maps a controller (memory, pids, cpu) to where it lives:
	// "cgroup v1" or "cgroup v2".
	Enforced map[string]string
	// Missing maps a controller to why it cannot be enforced.
	Missing map[string]string
}

func (c *cgroups) report() CgroupReport {
	r := CgroupReport{Enforced: map[string]string{}, Missing: map[string]string{}}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		switch {
		case c.v2Ctl[ctl]:
			r.Enforced[ctl] = "cgroup v2"
		case c.v1[ctl] != "":
			r.Enforced[ctl] = "cgroup v1"
		default:
			r.Missing[ctl] = c.missing[ctl]
		}
	}
	return r
}

// DetectCgroups reports which sandbox limits this process could enforce,
// for `quickvibe doctor`.
func DetectCgroups() CgroupReport {
	return detectCgroups(os.Geteuid() == 0).report()
}

// newCgroups finds the cgroups a new engine uses: detectCgroups, except in
// tests that point the engine at a cgroup of their own.
var newCgroups = detectCgroups

// detectCgroups finds the hierarchies from the mount table and this
// process's own cgroups, and prepares the parent directories. v2 is
// preferred per controller; v1 is only usable as root because joining a v1
// cgroup takes root (spawn.go). On v2, root uses mount/quickvibe; any
// other user, the cgroup delegated to it, if any (setupUnprivilegedV2).
func detectCgroups(asRoot bool) *cgroups {
	c := &cgroups{v1: map[string]string{}, v2Ctl: map[string]bool{}, missing: map[string]string{}}
	want := []string{ctlMemory, ctlPids, ctlCPU, ctlFreezer}
	for _, ctl := range want {
		c.missing[ctl] = "no cgroup hierarchy offers the " + ctl + " controller"
	}
	mounts, err := cgroupMounts()
	if err != nil {
		for _, ctl := range want {
			c.missing[ctl] = err.Error()
		}
		return c
	}
	own, err := ownCgroups()
	if err != nil {
		for _, ctl := range want {
			c.missing[ctl] = err.Error()
		}
		return c
	}
	if m, ok := mounts[""]; ok {
		if asRoot {
			c.setupV2(m)
		} else {
			c.setupUnprivilegedV2(m, own[""], os.Getpid())
		}
	}
	for _, ctl := range want {
		if c.v2Ctl[ctl] {
			continue
		}
		m, ok := mounts[ctl]
		if !ok {
			continue
		}
		if !asRoot {
			c.missing[ctl] = ctl + " is a cgroup v1 controller, which only a server running as root can use"
			continue
		}
		// Under our own cgroup, so the sandbox counts against whatever
		// limits the server itself runs under.
		parent := filepath.Join(m, own[ctl], cgroupParent)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			c.missing[ctl] = fmt.Sprintf("cannot create %s: %v", parent, err)
			continue
		}
		c.v1[ctl] = parent
		delete(c.missing, ctl)
	}
	return c
}

// setupV2 makes mount/quickvibe the parent of sandbox cgroups if the
// unified hierarchy hands down any wanted controller; without one it is
// not used (limits then come from v1 hierarchies, or are missing).
func (c *cgroups) setupV2(mount string) {
	b, err := os.ReadFile(filepath.Join(mount, "cgroup.subtree_control"))
	if err != nil {
		return
	}
	avail := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		avail[f] = true
	}
	if !avail[ctlMemory] && !avail[ctlPids] && !avail[ctlCPU] {
		for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
			c.missing[ctl] = fmt.Sprintf("the cgroup v2 hierarchy at %s has no %s controller enabled (its cgroup.subtree_control: %q)", mount, ctl, strings.TrimSpace(string(b)))
		}
		return
	}
	c.useV2(filepath.Join(mount, cgroupParent), avail)
}

// useV2 makes parent, a cgroup of the unified hierarchy, the parent of
// sandbox cgroups and enables in it each wanted controller of avail (the
// controllers its own parent hands down). A limit whose controller it
// cannot enable is recorded as missing, with why. Sandboxes get a cgroup
// there even without controllers: bwrap starts in it (CLONE_INTO_CGROUP),
// and cgroup.kill ends the whole tree.
func (c *cgroups) useV2(parent string, avail map[string]bool) {
	var enable []string
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if avail[ctl] {
			enable = append(enable, ctl)
		} else {
			c.missing[ctl] = fmt.Sprintf("the cgroup v2 hierarchy does not hand the %s controller down to %s (it may be bound to a cgroup v1 hierarchy)", ctl, parent)
		}
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		for _, ctl := range enable {
			c.missing[ctl] = fmt.Sprintf("cannot create %s: %v", parent, err)
		}
		return
	}
	for _, ctl := range enable {
		if err := c.writeFile(filepath.Join(parent, "cgroup.subtree_control"), "+"+ctl); err != nil {
			c.missing[ctl] = fmt.Sprintf("cannot enable %s in %s: %v", ctl, parent, err)
			continue
		}
		c.v2Ctl[ctl] = true
		delete(c.missing, ctl)
	}
	c.v2 = parent
	if c.v2Ctl[ctlMemory] || c.v2Ctl[ctlPids] || c.v2Ctl[ctlCPU] {
		// cgroup.kill replaces the v1 freezer.
		delete(c.missing, ctlFreezer)
	}
}

// writeFile writes value to the cgroup file path (see cgroups.write).
func (c *cgroups) writeFile(path, value string) error {
	if c.write != nil {
		return c.write(path, value)
	}
	return os.WriteFile(path, []byte(value), 0o644)
}

// serverLeaf is the cgroup below its delegated cgroup that a server not
// running as root moves itself into, next to cgroupParent.
const serverLeaf = "qv-server"

// delegationHint says how a server not running as root gets a cgroup of
// its own to enforce limits in.
const delegationHint = "start the server in a cgroup delegated to it and holding no other process: " +
	"`systemd-run --user --scope -p Delegate=yes quickvibe serve`, or Delegate=yes in its systemd unit"

// setupUnprivilegedV2 sets up the unified hierarchy at mount for a server
// not running as root, pid, whose cgroup there is own (the "0::" line of
// /proc/self/cgroup). It cannot make mount/quickvibe, but it can use its
// own cgroup if that is delegated to it (systemd's Delegate=: the
// directory, its cgroup.procs and cgroup.subtree_control are writable).
// The kernel hands controllers down only from a cgroup without processes
// ("no internal processes"), so the server first moves itself into the
// leaf own/qv-server, enables there each wanted controller that own
// offers, and makes own/quickvibe the parent of sandbox cgroups. It moves
// nothing else: if another process shares own (e.g. the shell of a login
// session), enabling fails with EBUSY and the limits are reported missing
// with how to fix it.
//
// A delegated cgroup offering none of memory, pids or cpu is used too:
// every sandbox still gets a cgroup of its own, which bwrap starts in
// (CLONE_INTO_CGROUP), cgroup.kill ends the whole tree at stop, a crashed
// server's leftovers are found and killed, and cpu.stat reports usage.
// Moving the server into a leaf costs nothing.
//
// Without delegation it does what root does (setupV2), which fails where
// only root may write; the reasons then say how delegation helps.
func (c *cgroups) setupUnprivilegedV2(mount, own string, pid int) {
	dir := filepath.Join(mount, own)
	// Moved there by an earlier engine of this process.
	inLeaf := filepath.Base(own) == serverLeaf
	if inLeaf {
		dir = filepath.Dir(dir)
	}
	if own == "" || !delegated(dir) {
		c.setupV2(mount)
		for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
			if why, ok := c.missing[ctl]; ok {
				c.missing[ctl] = fmt.Sprintf("%s; a server not running as root can enforce limits only in a cgroup delegated to it, and its cgroup %s is not: %s", why, dir, delegationHint)
			}
		}
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
			c.missing[ctl] = fmt.Sprintf("read the controllers of the delegated cgroup %s: %v", dir, err)
		}
		return
	}
	offered := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		offered[f] = true
	}
	why := map[string]string{}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if !offered[ctl] {
			why[ctl] = fmt.Sprintf("the %s controller is not delegated to the server's cgroup %s (its cgroup.controllers: %q)", ctl, dir, strings.TrimSpace(string(b)))
		}
	}
	if !inLeaf {
		leaf := filepath.Join(dir, serverLeaf)
		err := os.Mkdir(leaf, 0o755)
		if err == nil || errors.Is(err, fs.ErrExist) {
			// All of the process's threads move with it.
			err = c.writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(pid))
		}
		if err != nil {
			for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
				if offered[ctl] {
					why[ctl] = fmt.Sprintf("cannot move the server into %s, so the delegated cgroup %s cannot hand the %s controller down: %v", leaf, dir, ctl, err)
				}
			}
			offered = map[string]bool{}
		}
	}
	avail := map[string]bool{}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		if !offered[ctl] {
			continue
		}
		err := c.writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+ctl)
		switch {
		case errors.Is(err, syscall.EBUSY):
			why[ctl] = fmt.Sprintf("the server's delegated cgroup %s holds other processes (%s), so the kernel does not let it hand the %s controller down; %s", dir, otherPIDs(dir), ctl, delegationHint)
		case err != nil:
			why[ctl] = fmt.Sprintf("cannot enable %s in %s: %v", ctl, dir, err)
		default:
			avail[ctl] = true
		}
	}
	c.useV2(filepath.Join(dir, cgroupParent), avail)
	for ctl, w := range why {
		if !c.v2Ctl[ctl] {
			c.missing[ctl] = w
		}
	}
}

// delegated reports whether this process may manage the cgroup dir:
// create cgroups in it, move processes within it and hand controllers
// down, as systemd's Delegate= allows.
func delegated(dir string) bool {
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		if unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_EACCESS) != nil {
			return false
		}
	}
	return true
}

// otherPIDs describes the processes listed in the cgroup dir's own
// cgroup.procs, for a message.
func otherPIDs(dir string) string {
	pids := ownPIDs(dir)
	if len(pids) == 0 {
		return "see its cgroup.procs"
	}
	return describePIDs(pids)
}

// cgroupMounts maps each v1 controller to its mount point, and "" to the
// unified hierarchy's.
func cgroupMounts() (map[string]string, error) {
	// thread-self: the threads that start sandboxes have mount namespaces
	// of their own (spawn.go), and /proc/self shows the main thread's.
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			if _, seen := m[""]; !seen {
				m[""] = pf[4]
			}
		case "cgroup":
			for _, opt := range strings.Split(qf[2], ",") {
				if _, seen := m[opt]; !seen {
					m[opt] = pf[4]
				}
			}
		}
	}
	return m, sc.Err()
}

// ownCgroups maps each v1 controller to this process's cgroup path in it.
func ownCgroups() (map[string]string, error) {
	// thread-self, like cgroupMounts.
	b, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	own := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			own[ctl] = parts[2]
		}
	}
	return own, nil
}

// sandboxCgroup is one sandbox's set of cgroups.
type sandboxCgroup struct {
	// v1 holds one directory per v1 controller; bwrap starts in each
	// (spawn.go).
	v1 map[string]string
	// v2 is the unified cgroup ("" if none); bwrap starts inside it.
	v2 string
}

// create makes the cgroups of sandbox id and sets the limits. Leftovers of
// a crashed server are removed first.
func (c *cgroups) create(id string, l Limits) (*sandboxCgroup, error) {
	name := cgroupPrefix + id
	if err := c.destroy(c.lookup(id), time.Now().Add(stopTimeout)); err != nil {
		// A process of an earlier run survived its stop (see reap).
		return nil, fmt.Errorf("the cgroups of an earlier run of the sandbox are still in use: %w", err)
	}
	s := &sandboxCgroup{v1: map[string]string{}}
	var files []struct{ path, value string }
	set := func(dir, file, value string) {
		files = append(files, struct{ path, value string }{filepath.Join(dir, file), value})
	}
	if c.v2 != "" {
		s.v2 = filepath.Join(c.v2, name)
		if err := os.Mkdir(s.v2, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
	}
	for ctl, parent := range c.v1 {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			c.destroy(s, time.Now().Add(stopTimeout))
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		s.v1[ctl] = dir
	}
	if l.MemoryBytes > 0 {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		if c.v2Ctl[ctlMemory] {
			set(s.v2, "memory.max", v)
			// Only exists with swap accounting.
			if _, err := os.Stat(filepath.Join(s.v2, "memory.swap.max")); err == nil {
				set(s.v2, "memory.swap.max", "0")
			}
		} else if dir := s.v1[ctlMemory]; dir != "" {
			set(dir, "memory.limit_in_bytes", v)
			// Only exists with swap accounting; must follow the limit.
			if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
				set(dir, "memory.memsw.limit_in_bytes", v)
			}
		}
	}
	if l.Pids > 0 {
		v := strconv.Itoa(l.Pids)
		if c.v2Ctl[ctlPids] {
			set(s.v2, "pids.max", v)
		} else if dir := s.v1[ctlPids]; dir != "" {
			set(dir, "pids.max", v)
		}
	}
	if l.CPU > 0 {
		const period = 100000
		quota := strconv.Itoa(max(1000, int(l.CPU*period)))
		if c.v2Ctl[ctlCPU] {
			set(s.v2, "cpu.max", quota+" "+strconv.Itoa(period))
		} else if dir := s.v1[ctlCPU]; dir != "" {
			set(dir, "cpu.cfs_period_us", strconv.Itoa(period))
			set(dir, "cpu.cfs_quota_us", quota)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.value), 0o644); err != nil {
			c.destroy(s, time.Now().Add(stopTimeout))
			return nil, fmt.Errorf("set cgroup limit: %w", err)
		}
	}
	return s, nil
}

// lookup returns the cgroups sandbox id would have, whether or not they
// exist.
func (c *cgroups) lookup(id string) *sandboxCgroup {
	s := &sandboxCgroup{v1: map[string]string{}}
	if c.v2 != "" {
		s.v2 = filepath.Join(c.v2, cgroupPrefix+id)
	}
	for ctl, parent := range c.v1 {
		s.v1[ctl] = filepath.Join(parent, cgroupPrefix+id)
	}
	return s
}

// destroy kills whatever still runs in the sandbox's cgroups and removes
// them, waiting until deadline for killed processes to leave. Missing
// cgroups are fine.
func (c *cgroups) destroy(s *sandboxCgroup, deadline time.Time) error {
	if s == nil {
		return nil
	}
	s.kill()
	var errs []error
	dirs := []string{s.v2}
	for _, dir := range s.v1 {
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if err := removeCgroup(dir, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// kill SIGKILLs every process in the sandbox's cgroups; s may be nil.
func (s *sandboxCgroup) kill() {
	if s == nil {
		return
	}
	if s.v2 != "" {
		killV2(s.v2)
	}
	if fz := s.v1[ctlFreezer]; fz != "" {
		// A frozen tree cannot fork while it is being killed.
		if err := os.WriteFile(filepath.Join(fz, "freezer.state"), []byte("FROZEN"), 0); err == nil {
			killAll(fz)
			_ = os.WriteFile(filepath.Join(fz, "freezer.state"), []byte("THAWED"), 0)
		}
	}
	for _, dir := range s.v1 {
		killAll(dir)
	}
}

// killV2 SIGKILLs every process in the unified cgroup dir and below it.
// Kernels before 5.14 have no cgroup.kill: there the tree is frozen
// (cgroup.freeze, 5.2) so it cannot fork while each process is killed.
func killV2(dir string) {
	err := writeExisting(filepath.Join(dir, "cgroup.kill"), "1")
	if err == nil {
		return
	}
	if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
		return
	}
	frozen := writeExisting(filepath.Join(dir, "cgroup.freeze"), "1") == nil
	killAll(dir)
	if frozen {
		// SIGKILL ends frozen processes too; the rest must not stay stuck.
		_ = writeExisting(filepath.Join(dir, "cgroup.freeze"), "0")
	}
}

// writeExisting writes value to an existing file: a cgroup file that this
// kernel lacks is an error, never created.
func writeExisting(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	return errors.Join(err, f.Close())
}

// killAll SIGKILLs every process in the cgroup dir and the cgroups below
// it. The server itself is never one of them: a thread of it is in a
// sandbox's cgroup only while it starts bwrap (spawn.go), and must not
// take the server down if it ever failed to leave.
func killAll(dir string) {
	self := os.Getpid()
	for _, pid := range cgroupPIDs(dir) {
		if pid != self {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cgroupPIDs lists the processes in the cgroup dir and the cgroups below
// it. A sandbox cannot make cgroups, but whoever administers the host can.
func cgroupPIDs(dir string) []int {
	pids := ownPIDs(dir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			pids = append(pids, cgroupPIDs(filepath.Join(dir, e.Name()))...)
		}
	}
	return pids
}

// ownPIDs lists the processes in the cgroup dir itself (its cgroup.procs).
func ownPIDs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroup removes the cgroup dir and any empty cgroups below it once
// their last process is gone; killed processes may take a moment to leave.
// It retries until deadline (at least once), killing what it finds, and
// then names the processes still there.
func removeCgroup(dir string, deadline time.Time) error {
	for {
		err := rmdirTree(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			if pids := cgroupPIDs(dir); len(pids) > 0 {
				return fmt.Errorf("remove cgroup %s: processes still in it after SIGKILL: %s: %w", dir, describePIDs(pids), err)
			}
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		killAll(dir)
		time.Sleep(10 * time.Millisecond)
	}
}

// rmdirTree removes the cgroup dir after the cgroups below it; the
// kernel refuses (EBUSY) while any of them has a process.
func rmdirTree(dir string) error {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			_ = rmdirTree(filepath.Join(dir, e.Name()))
		}
	}
	return syscall.Rmdir(dir)
}

// describePIDs says "123 (sleep 1000), 456 (sh)" for an error message.
func describePIDs(pids []int) string {
	parts := make([]string, 0, len(pids))
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		switch {
		case cmd == "":
			parts = append(parts, strconv.Itoa(pid))
			continue
		case len(cmd) > 60:
			cmd = cmd[:60] + "..."
		}
		parts = append(parts, fmt.Sprintf("%d (%s)", pid, cmd))
	}
	return strings.Join(parts, ", ")
}

// cleanup removes the cgroups of sandboxes that are not running, e.g. left
// by a server that was killed.
func (c *cgroups) cleanup(ids []string, running func(string) bool) error {
	var errs []error
	for _, id := range ids {
		if !running(id) {
			errs = append(errs, c.destroy(c.lookup(id), time.Now().Add(stopTimeout)))
		}
	}
	return errors.Join(errs...)
}

// staleAge is how old an empty sandbox cgroup must be before sweepStale
// removes it: a launch fills its cgroup well within that time.
const staleAge = time.Minute

// sweepStale removes empty sandbox cgroups of any engine on this host that
// are older than staleAge: left by a server killed while its state dir
// went away too (tests' temporary dirs do). Only rmdir is used, which the
// kernel refuses for a cgroup that still has processes.
func (c *cgroups) sweepStale() {
	parents := []string{c.v2}
	for _, dir := range c.v1 {
		parents = append(parents, dir)
	}
	for _, parent := range parents {
		if parent == "" {
			continue
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) {
				continue
			}
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < staleAge {
				continue
			}
			_ = rmdirTree(filepath.Join(parent, e.Name()))
		}
	}
}
