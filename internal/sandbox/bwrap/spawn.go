package bwrap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// How a root server starts bwrap as a sandbox's unprivileged uid.
//
// bubblewrap resolves the source of every bind mount with realpath(3) as
// the user it runs as, even for --bind-fd, whose fd it turns back into a
// path through /proc/self/fd (0.8.0 does; upstream's current source too).
// A per-sandbox uid therefore needs search permission on every ancestor of
// the workspace and of the toolbox binary, which a root-owned state dir
// (say, under a 0700 directory) must not grant. And on cgroup v1 bwrap has
// to start inside the sandbox's cgroups, which takes a step between fork
// and exec that Go does not offer.
//
// Both are done on one OS thread of the server, locked to a goroutine for
// as long as the sandbox runs:
//
//   - the thread unshares its mount namespace (only this thread's: Go
//     threads share their fs_struct, and unshare(CLONE_NEWNS) gives the
//     caller a private copy of it), mounts a private tmpfs on a stage
//     directory that anyone may traverse, and bind-mounts the workspace and
//     the toolbox binary there; nothing of it is visible on the host;
//   - it moves itself (the thread only, through the v1 "tasks" files) into
//     the sandbox's cgroups, forks bwrap, which starts in them, and moves
//     back;
//   - the child drops to the sandbox's uid (exec.Cmd's Credential: groups,
//     gid, uid, in that order, before exec) and execs bwrap with an empty
//     environment.
//
// The child inherits the thread's mount namespace, so bwrap finds the
// staged copies, and bwrap's own namespace is a copy of that one, taken
// before the thread can go away. The thread must stay: Linux sends the
// parent-death signal when the parent *thread* exits, so the goroutine
// keeps the thread until bwrap has exited, and then returns without
// unlocking, which ends the thread and frees the namespace with it.
//
// This replaces a separate root launcher process (a second start of this
// large binary per sandbox, about 20 ms here) with a few system calls.

// stageCandidates are directories the stage tmpfs may cover in the
// thread's namespace: each exists on ordinary Linux systems, and bwrap
// needs nothing from any of them. The first that holds none of the paths
// the launch needs is used.
var stageCandidates = []string{"/tmp", "/mnt", "/media", "/srv", "/var/tmp", "/opt"}

// stage asks for the inherited fd FD of bwrap (opened by the server on
// Path) to be replaced by an fd of a copy of Path mounted on the stage.
type stage struct {
	FD   int
	Path string
}

// stageDir picks the stage directory for a launch that uses paths.
func stageDir(paths []string) (string, error) {
	for _, dir := range stageCandidates {
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			continue
		}
		clash := false
		for _, p := range paths {
			if p == dir || strings.HasPrefix(filepath.Clean(p), dir+"/") {
				clash = true
				break
			}
		}
		if !clash {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no directory to stage bind mounts on: each of %s holds one of %s", strings.Join(stageCandidates, ", "), strings.Join(paths, ", "))
}

// checkSecurebits makes sure dropping from root to another uid clears
// every capability, which the kernel skips when these bits are set (they
// are inherited from whoever started the server).
func checkSecurebits() error {
	bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("prctl(PR_GET_SECUREBITS): %w", err)
	}
	const keepCaps, noSetuidFixup = 1 << 4, 1 << 2
	if bits&(keepCaps|noSetuidFixup) != 0 {
		return fmt.Errorf("securebits %#x keep capabilities across a change of uid; run the server without SECBIT_KEEP_CAPS and SECBIT_NO_SETUID_FIXUP", bits)
	}
	return nil
}

// startStaged starts cmd (bwrap) as uid:gid with stages staged and in the
// v1 cgroups cgroupDirs (controller to directory); see above. cmd.ExtraFiles
// holds an fd for every stage at stage.FD.
//
// Moving the thread back out of the sandbox's cgroups takes a few
// milliseconds (cgroup migration waits for RCU), so it happens while bwrap
// sets the sandbox up: settled reports when it is done, and the sandbox
// must not be used before (a failure kills it).
func startStaged(cmd *exec.Cmd, uid, gid int, stages []stage, cgroupDirs map[string]string) (settled <-chan error, err error) {
	if uid < 1 || gid < 1 {
		return nil, errors.New("bwrap must run as an unprivileged uid and gid")
	}
	if err := checkSecurebits(); err != nil {
		return nil, err
	}
	paths := []string{cmd.Path}
	for _, s := range stages {
		paths = append(paths, s.Path)
	}
	dir, err := stageDir(paths)
	if err != nil {
		return nil, err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	started, settle := make(chan error, 1), make(chan error, 1)
	// keep runs on a locked thread that is never unlocked: the thread's
	// mount namespace is not the process's, so no other goroutine may ever
	// run on it. Returning ends the thread.
	keep := func() {
		pidfd, home, err := startOnThread(cmd, dir, stages, cgroupDirs)
		started <- err
		if err != nil {
			return
		}
		err = home.restore()
		if err != nil {
			// The sandbox's limits and kill would reach this thread of
			// the server: end the sandbox, and with it the thread.
			err = fmt.Errorf("%w; killing the sandbox", err)
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		}
		settle <- err
		// The thread is bwrap's parent: see the parent-death signal above.
		for {
			_, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, -1)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		unix.Close(pidfd)
	}
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			keep()
			return
		}
		// This is the main thread, which Go never ends (it parks it for
		// good instead) and whose view /proc/self shows every thread.
		// Keep it busy until the work runs on another thread.
		moved := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(moved)
			keep()
		}()
		<-moved
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return settle, nil
}

// startOnThread does the work of startStaged on the locked thread up to
// the start of bwrap, and returns a pidfd of it and the way back out of
// the sandbox's cgroups.
func startOnThread(cmd *exec.Cmd, dir string, stages []stage, cgroupDirs map[string]string) (int, threadHome, error) {
	before, err := os.Readlink("/proc/thread-self/ns/mnt")
	if err != nil {
		return -1, nil, fmt.Errorf("read mount namespace: %w", err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return -1, nil, fmt.Errorf("unshare mount namespace: %w", err)
	}
	after, err := os.Readlink("/proc/thread-self/ns/mnt")
	if err != nil || after == before {
		// Mounting the stage here would cover the server's own view.
		return -1, nil, fmt.Errorf("thread did not get its own mount namespace (%s, %v)", after, err)
	}
	// Nothing mounted from here may reach the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return -1, nil, fmt.Errorf("make mounts private: %w", err)
	}

	// Open the sources before the tmpfs covers the stage directory.
	srcs := make([]int, 0, len(stages))
	defer func() {
		for _, fd := range srcs {
			unix.Close(fd)
		}
	}()
	for _, st := range stages {
		fd, err := unix.Open(st.Path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, fmt.Errorf("open %s: %w", st.Path, err)
		}
		srcs = append(srcs, fd)
		// The server opened the same path before; both must name one file,
		// or something moved in between.
		var a, b unix.Stat_t
		if err := unix.Fstat(fd, &a); err != nil {
			return -1, nil, fmt.Errorf("stat %s: %w", st.Path, err)
		}
		if err := unix.Fstat(int(cmd.ExtraFiles[st.FD-3].Fd()), &b); err != nil {
			return -1, nil, fmt.Errorf("stat the server's fd of %s: %w", st.Path, err)
		}
		if a.Dev != b.Dev || a.Ino != b.Ino {
			return -1, nil, fmt.Errorf("%s is not the file the server opened", st.Path)
		}
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=65536"); err != nil {
		return -1, nil, fmt.Errorf("mount staging tmpfs on %s: %w", dir, err)
	}
	files := append([]*os.File(nil), cmd.ExtraFiles...)
	defer func() {
		// Only the staged fds are ours; the caller owns the rest.
		for i, f := range files {
			if f != cmd.ExtraFiles[i] {
				f.Close()
			}
		}
	}()
	for i, st := range stages {
		f, err := stageFile(dir, srcs[i], st.FD)
		if err != nil {
			return -1, nil, fmt.Errorf("stage %s: %w", st.Path, err)
		}
		files[st.FD-3] = f
	}
	orig := cmd.ExtraFiles
	cmd.ExtraFiles = files
	defer func() { cmd.ExtraFiles = orig }()

	home, err := threadHomeOf(cgroupDirs)
	if err != nil {
		return -1, nil, err
	}
	if err := moveThread(cgroupDirs); err != nil {
		return -1, nil, errors.Join(err, home.restore())
	}
	if err := cmd.Start(); err != nil {
		return -1, nil, errors.Join(err, home.restore())
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		return -1, nil, errors.Join(fmt.Errorf("pidfd of bwrap: %w", err), home.restore())
	}
	return pidfd, home, nil
}

// stageFile bind-mounts the file or directory behind src on a new node in
// dir and returns an O_PATH file of the mount.
func stageFile(dir string, src, fd int) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return nil, err
	}
	target := filepath.Join(dir, strconv.Itoa(fd))
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.Mkdir(target, 0o755); err != nil {
			return nil, fmt.Errorf("mkdir %s: %w", target, err)
		}
	} else {
		nfd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", target, err)
		}
		unix.Close(nfd)
	}
	// The magic link names the exact file src refers to.
	if err := unix.Mount("/proc/thread-self/fd/"+strconv.Itoa(src), target, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind mount onto %s: %w", target, err)
	}
	staged, err := openPath(target, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return nil, err
	}
	return staged, nil
}

// threadCgroups maps each v1 controller to this thread's cgroup path in
// its hierarchy.
func threadCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	defer f.Close()
	home := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && parts[1] != "" {
			for _, ctl := range strings.Split(parts[1], ",") {
				home[ctl] = parts[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	return home, nil
}

// moveThread moves the calling thread into the cgroup dirs[ctl] of each
// controller.
func moveThread(dirs map[string]string) error {
	tid := strconv.Itoa(unix.Gettid())
	for ctl, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte(tid), 0); err != nil {
			return fmt.Errorf("join %s cgroup %s: %w", ctl, dir, err)
		}
	}
	return nil
}

// threadHome is where the calling thread came from, for each controller
// it moves through: the cgroup path and that cgroup's "tasks" file.
type threadHome map[string]struct{ path, tasks string }

// threadHomeOf records the calling thread's cgroups of the controllers of
// dirs.
func threadHomeOf(dirs map[string]string) (threadHome, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	own, err := threadCgroups()
	if err != nil {
		return nil, err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	home := threadHome{}
	for ctl := range dirs {
		if mounts[ctl] == "" || own[ctl] == "" {
			return nil, fmt.Errorf("cannot tell the server's own %s cgroup", ctl)
		}
		home[ctl] = struct{ path, tasks string }{own[ctl], filepath.Join(mounts[ctl], own[ctl], "tasks")}
	}
	return home, nil
}

// restore moves the calling thread back home and checks it is there.
func (h threadHome) restore() error {
	if len(h) == 0 {
		return nil
	}
	tid := strconv.Itoa(unix.Gettid())
	var errs []error
	for ctl, home := range h {
		if err := os.WriteFile(home.tasks, []byte(tid), 0); err != nil {
			errs = append(errs, fmt.Errorf("leave the sandbox's %s cgroup: %w", ctl, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	now, err := threadCgroups()
	if err != nil {
		return err
	}
	for ctl, home := range h {
		if now[ctl] != home.path {
			return fmt.Errorf("thread is in %s cgroup %s, not back in %s", ctl, now[ctl], home.path)
		}
	}
	return nil
}
