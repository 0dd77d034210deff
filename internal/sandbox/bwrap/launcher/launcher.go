// Package launcher is the privileged pre-exec step of the bwrap engine,
// run as `qv-toolbox launch ...` by a root server in a fresh, private mount
// namespace, right before it becomes bwrap under the sandbox's uid.
//
// Why it exists: bubblewrap resolves the source of every bind mount with
// realpath(3) as the unprivileged user it runs as, even for --bind-fd,
// whose fd it turns back into a path via /proc/self/fd (seen with 0.8.0,
// and upstream's current source does the same). A
// per-sandbox uid therefore needs search permission on every ancestor of
// the workspace and of the toolbox binary, which a root-owned state dir
// (say, under a 0700 directory) must not grant. Go cannot run code between
// fork and exec, so this step runs as its own process instead: while still
// root it re-mounts the sources onto a private tmpfs that anyone may
// traverse, then drops to the sandbox uid for good and execs bwrap. The
// mounts live only in the launcher's own mount namespace (the parent starts
// it with CLONE_NEWNS), so the host sees nothing and nothing needs cleaning
// up.
package launcher

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// StageDir is where the launcher mounts its private tmpfs. Any existing
// directory works because the mount is invisible outside the launcher's
// mount namespace; /tmp exists everywhere and nothing bwrap needs lives
// there.
const StageDir = "/tmp"

// Stage asks the launcher to replace the inherited fd FD (opened by the
// server on Path) with an fd on a copy of Path mounted under StageDir.
type Stage struct {
	FD   int
	Path string
}

// Argv returns the launcher's arguments (after "qv-toolbox launch").
// cgroupProcs are the cgroup.procs files of the (v1) cgroups to join.
func Argv(uid, gid int, bwrapPath string, stages []Stage, cgroupProcs []string, bwrapArgv []string) []string {
	a := []string{"--uid", strconv.Itoa(uid), "--gid", strconv.Itoa(gid), "--bwrap", bwrapPath}
	for _, s := range stages {
		a = append(a, "--stage", strconv.Itoa(s.FD)+":"+s.Path)
	}
	for _, c := range cgroupProcs {
		a = append(a, "--cgroup", c)
	}
	a = append(a, "--")
	return append(a, bwrapArgv...)
}

// Main runs the launcher. On success it never returns (the process becomes
// bwrap); otherwise it prints why and returns a non-zero exit code.
func Main(args []string) int {
	err := run(args)
	fmt.Fprintf(os.Stderr, "qv-toolbox launch: %v\n", err)
	return 1
}

type stageList []Stage

func (s *stageList) String() string { return fmt.Sprint(*s) }

func (s *stageList) Set(v string) error {
	fdStr, path, ok := strings.Cut(v, ":")
	fd, err := strconv.Atoi(fdStr)
	if !ok || err != nil || fd < 3 || !filepath.IsAbs(path) {
		return fmt.Errorf("want FD:ABSOLUTE-PATH, got %q", v)
	}
	*s = append(*s, Stage{FD: fd, Path: path})
	return nil
}

type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	if !filepath.IsAbs(v) || filepath.Base(v) != "cgroup.procs" {
		return fmt.Errorf("want an absolute path of a cgroup.procs file, got %q", v)
	}
	*p = append(*p, v)
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("qv-toolbox launch", flag.ContinueOnError)
	uid := fs.Int("uid", -1, "host uid to run bwrap as")
	gid := fs.Int("gid", -1, "host gid to run bwrap as")
	bwrapPath := fs.String("bwrap", "", "path of the bwrap binary")
	var stages stageList
	fs.Var(&stages, "stage", "FD:PATH to re-mount under "+StageDir+" (repeatable)")
	var cgroupProcs pathList
	fs.Var(&cgroupProcs, "cgroup", "cgroup.procs file of a cgroup to join (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bwrapArgv := fs.Args()
	switch {
	case *uid < 1 || *gid < 1:
		return errors.New("--uid and --gid must name an unprivileged user")
	case *bwrapPath == "" || len(bwrapArgv) == 0:
		return errors.New("--bwrap and the bwrap argv after -- are required")
	case os.Geteuid() != 0:
		return errors.New("must run as root")
	}
	ppid := os.Getppid()
	if err := checkPrivateMountNamespace(ppid); err != nil {
		return err
	}
	// Join the sandbox's cgroups first: bwrap, its setup and everything it
	// starts then count against the sandbox's limits. cgroup v1 has no
	// CLONE_INTO_CGROUP, and Go runs nothing between fork and exec, hence
	// this step.
	for _, procs := range cgroupProcs {
		if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}

	// Open everything before the tmpfs goes over StageDir: the sources may
	// well live under it.
	bwrapFD, err := unix.Open(*bwrapPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", *bwrapPath, err)
	}
	srcs := make([]int, len(stages))
	for i, st := range stages {
		fd, err := unix.Open(st.Path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", st.Path, err)
		}
		// The server opened the same path before launching us; both must
		// name one file, or something moved in between.
		var a, b unix.Stat_t
		if err := unix.Fstat(fd, &a); err != nil {
			return fmt.Errorf("stat %s: %w", st.Path, err)
		}
		if err := unix.Fstat(st.FD, &b); err != nil {
			return fmt.Errorf("stat inherited fd %d: %w", st.FD, err)
		}
		if a.Dev != b.Dev || a.Ino != b.Ino {
			return fmt.Errorf("%s is not the file the server opened as fd %d", st.Path, st.FD)
		}
		srcs[i] = fd
	}

	if err := unix.Mount("tmpfs", StageDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=65536"); err != nil {
		return fmt.Errorf("mount staging tmpfs on %s: %w", StageDir, err)
	}
	for i, st := range stages {
		if err := stage(srcs[i], st.FD); err != nil {
			return fmt.Errorf("stage %s: %w", st.Path, err)
		}
	}

	if err := dropPrivileges(*uid, *gid); err != nil {
		return err
	}
	// Changing uid cleared the parent-death signal the server asked for;
	// set it again and make sure the server did not die in between.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
	}
	if os.Getppid() != ppid {
		return errors.New("server exited during launch")
	}
	// Exec by path where possible: through /proc/self/fd the process name
	// (comm) would become the fd number. Only a bwrap under StageDir is now
	// hidden and needs the fd opened before the tmpfs went over it.
	execPath := *bwrapPath
	if strings.HasPrefix(filepath.Clean(execPath), StageDir+"/") {
		execPath = "/proc/self/fd/" + strconv.Itoa(bwrapFD)
	}
	// An empty environment: bwrap's pid 1 inside the sandbox keeps the
	// environment it was started with, readable via /proc/1/environ.
	err = syscall.Exec(execPath, bwrapArgv, []string{})
	return fmt.Errorf("exec %s: %w", *bwrapPath, err)
}

// stage mounts src on a new node under StageDir and puts an O_PATH fd of
// the mount at fd, where bwrap's --bind-fd/--ro-bind-fd expects it.
func stage(src, fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	target := filepath.Join(StageDir, strconv.Itoa(fd))
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.Mkdir(target, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", target, err)
		}
	} else {
		nfd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
		if err != nil {
			return fmt.Errorf("create %s: %w", target, err)
		}
		unix.Close(nfd)
	}
	// The magic link names the exact file the fd refers to, even though
	// its path is now hidden under the tmpfs.
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(src), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount onto %s: %w", target, err)
	}
	unix.Close(src)
	staged, err := unix.Open(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", target, err)
	}
	defer unix.Close(staged)
	// Without O_CLOEXEC: bwrap must inherit it (it closes it after use).
	if err := unix.Dup3(staged, fd, 0); err != nil {
		return fmt.Errorf("dup3 onto fd %d: %w", fd, err)
	}
	return nil
}

func checkPrivateMountNamespace(ppid int) error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("read own mount namespace: %w", err)
	}
	parent, err := os.Readlink("/proc/" + strconv.Itoa(ppid) + "/ns/mnt")
	if err != nil {
		return fmt.Errorf("read parent's mount namespace: %w", err)
	}
	if self == parent {
		// Mounting the staging tmpfs here would cover the host's /tmp.
		return errors.New("not started in a private mount namespace (CLONE_NEWNS)")
	}
	return nil
}

func dropPrivileges(uid, gid int) error {
	// Go applies these to every thread of the process.
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid(%d): %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid(%d): %w", uid, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid {
		return errors.New("privileges not dropped")
	}
	// Leaving uid 0 clears the capability sets unless SECBIT_KEEP_CAPS was
	// set somewhere up the chain; check rather than trust.
	caps, err := capabilitySets()
	if err != nil {
		return err
	}
	for name, v := range caps {
		if v != 0 {
			return fmt.Errorf("capability set %s is %#x after dropping privileges", name, v)
		}
	}
	return nil
}

func capabilitySets() (map[string]uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	defer f.Close()
	sets := make(map[string]uint64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "CapPrm" && name != "CapEff" && name != "CapAmb") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		sets[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	if len(sets) != 3 {
		return nil, errors.New("capability sets missing from /proc/self/status")
	}
	return sets, nil
}
