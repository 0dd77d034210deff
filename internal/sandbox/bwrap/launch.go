package bwrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// Inherited fds of bwrap (ExtraFiles[i] becomes fd 3+i). bwrap closes the
// ones it consumes (args, bind and data fds) before it runs the toolbox, so
// the toolbox inherits only 0-2 and the listener.
const (
	fdListener = 3 + iota
	fdArgs
	fdWorkspace
	fdToolbox
	fdPasswd
	fdGroup
	fdHosts
	fdInfo
	fdSeccomp
	// fdEgress is the toolbox's end of a socketpair to the host's egress
	// proxy: the toolbox passes it one socket per proxied connection.
	fdEgress
)

const (
	sandboxUID     = 1000
	defaultTmpSize = 256 << 20
	sockName       = "toolbox.sock"
)

const (
	etcPasswd = "sandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	etcGroup = "sandbox:x:1000:\nnogroup:x:65534:\n"
	etcHosts = "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
)

// bwrapArgs returns the sandbox definition. It reaches bwrap through the
// --args pipe, never the command line, so /proc/1/cmdline inside shows no
// host paths.
func bwrapArgs(l Limits) []string {
	tmpSize := l.TmpBytes
	if tmpSize <= 0 {
		tmpSize = defaultTmpSize
	}
	a := []string{
		"--die-with-parent", "--new-session",
		// Tells us the host pid of bwrap's pid 1 in the sandbox.
		"--info-fd", strconv.Itoa(fdInfo),
		"--unshare-user", "--uid", strconv.Itoa(sandboxUID), "--gid", strconv.Itoa(sandboxUID),
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
		"--hostname", "sandbox",
		"--cap-drop", "ALL", "--disable-userns",

		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin",
		"--symlink", "usr/lib", "/lib",
		"--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/sbin", "/sbin",

		"--dir", "/etc",
		"--perms", "0644", "--ro-bind-data", strconv.Itoa(fdPasswd), "/etc/passwd",
		"--perms", "0644", "--ro-bind-data", strconv.Itoa(fdGroup), "/etc/group",
		"--perms", "0644", "--ro-bind-data", strconv.Itoa(fdHosts), "/etc/hosts",
		// Debian's awk, editor, etc. are symlinks into /etc/alternatives.
		"--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
		"--ro-bind-try", "/etc/ssl", "/etc/ssl",
		"--ro-bind-try", "/etc/ca-certificates", "/etc/ca-certificates",

		"--proc", "/proc",
		"--dev", "/dev",
		"--perms", "01777", "--size", strconv.FormatInt(tmpSize, 10), "--tmpfs", "/tmp",

		// The workspace is a leaf: no mount destination lies beneath a
		// directory the sandbox can write (bwrap < 0.12 could be tricked
		// into following a planted symlink while creating one).
		"--bind-fd", strconv.Itoa(fdWorkspace), toolbox.WorkspaceDir,
		"--perms", "0755", "--dir", "/opt",
		"--perms", "0755", "--dir", "/opt/quickvibe",
		"--perms", "0755", "--dir", toolbox.BinDir,
		"--ro-bind-fd", strconv.Itoa(fdToolbox), toolbox.ToolboxPath,
		"--symlink", toolbox.ToolboxName, toolbox.ServePath,

		// Everything above is set up; the root tmpfs (/, /etc, /opt) need
		// not stay writable.
		"--remount-ro", "/",

		"--chdir", toolbox.WorkspaceDir,
		"--clearenv",
		// Applied last, to the toolbox and so to everything it starts.
		"--seccomp", strconv.Itoa(fdSeccomp),
	}
	for _, kv := range toolbox.DaemonEnv() {
		k, v, _ := strings.Cut(kv, "=")
		a = append(a, "--setenv", k, v)
	}
	return a
}

// bwrapArgv is bwrap's visible command line.
func bwrapArgv() []string {
	return []string{"bwrap", "--args", strconv.Itoa(fdArgs), "--",
		toolbox.ToolboxPath, "serve", "--listen-fd", strconv.Itoa(fdListener), "--egress-fd", strconv.Itoa(fdEgress)}
}

// instance is one running bwrap process tree.
type instance struct {
	id     string
	cmd    *exec.Cmd
	client *toolbox.Client
	stderr *logTail
	// init is a pidfd of bwrap's pid 1 in the sandbox (-1 if unknown), and
	// initPID its host pid. Its exit completes only after every other
	// process of the pid namespace is gone, so it tells when the sandbox is
	// really over.
	// kill signals it through the pidfd, which, unlike its pid, cannot
	// name another process once it is gone; reap closes it under mu.
	init    int
	initPID int
	done    chan struct{} // closed after the sandbox is gone
	// err, set before done is closed, says why the sandbox could not be
	// brought down completely (nil when it was).
	err error
	// cgroup holds the sandbox's limits; removed once it is gone.
	cgroup *sandboxCgroup
	// egress is the host's end of the toolbox's egress socket pair.
	egress *net.UnixConn

	mu sync.Mutex
	// exited: the process-group leader has exited, so its pid (the group
	// id) may be reused and must not be signalled any more.
	exited bool
}

// stopTimeout bounds the whole bring-down of a sandbox once its outer
// bwrap is gone: waiting for pid 1 and removing every cgroup.
const stopTimeout = 10 * time.Second

// kill SIGKILLs the outer bwrap (its process group) and the sandbox's
// pid 1, whose death takes down the whole pid namespace. The group kill
// alone does not reach pid 1: --new-session makes it a session and
// process group of its own, and it would only die through
// --die-with-parent once the outer bwrap is gone.
func (in *instance) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.exited {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	}
	if in.init >= 0 {
		_ = unix.PidfdSendSignal(in.init, unix.SIGKILL, nil, 0)
	}
}

// callError turns a failed toolbox call into ErrNotRunning when the
// sandbox died under it.
func (in *instance) callError(op string, err error) error {
	select {
	case <-in.done:
		return fmt.Errorf("sandbox %s: %s: %w (%v)", in.id, op, sandbox.ErrNotRunning, err)
	default:
		return fmt.Errorf("sandbox %s: %s: %w", in.id, op, err)
	}
}

// launch starts the sandbox and waits until its toolbox answers. The
// caller holds the sandbox's lock and has checked it is not running.
func (p *Provider) launch(ctx context.Context, m meta) error {
	start := time.Now()
	bwrapPath := p.bwrap()
	if bwrapPath == "" {
		return errors.New("bubblewrap is not available")
	}
	dir := p.sandboxDir(m.ID)
	sockPath := filepath.Join(dir, sockName)

	var files []*os.File
	// Our copies are closed once the child has its own (or start failed).
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()

	// The host creates and owns the listening socket in a directory the
	// sandbox never sees, and only ever dials that socket.
	if err := os.Remove(sockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale toolbox socket: %w", err)
	}
	var ln *net.UnixListener
	err := viaDirFD(dir, sockName, func(path string) error {
		var err error
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		return err
	})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sockPath, err)
	}
	// Closing must not unlink: the name is only valid while the dir fd is.
	ln.SetUnlinkOnClose(false)
	lnFile, err := ln.File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("toolbox socket fd: %w", err)
	}
	files = append(files, lnFile)

	argsR, argsW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("args pipe: %w", err)
	}
	files = append(files, argsR)
	var args bytes.Buffer
	for _, a := range bwrapArgs(p.limits) {
		args.WriteString(a)
		args.WriteByte(0)
	}
	if err := writePipe(argsW, args.Bytes()); err != nil {
		return fmt.Errorf("bwrap args: %w", err)
	}

	ws := filepath.Join(dir, "workspace")
	if err := p.mountWorkspace(m); err != nil {
		return err
	}
	wsFile, err := openPath(ws, true)
	if err != nil {
		return fmt.Errorf("open workspace: %w", err)
	}
	files = append(files, wsFile)
	tbFile, err := openPath(p.toolboxPath, false)
	if err != nil {
		return fmt.Errorf("open toolbox binary: %w", err)
	}
	files = append(files, tbFile)
	for _, content := range []string{etcPasswd, etcGroup, etcHosts} {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("data pipe: %w", err)
		}
		files = append(files, r)
		if err := writePipe(w, []byte(content)); err != nil {
			return fmt.Errorf("data pipe: %w", err)
		}
	}
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("info pipe: %w", err)
	}
	defer infoR.Close()
	files = append(files, infoW)
	seccompR, seccompW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("seccomp pipe: %w", err)
	}
	files = append(files, seccompR)
	if err := writePipe(seccompW, p.seccomp); err != nil {
		return fmt.Errorf("seccomp pipe: %w", err)
	}
	egressHost, egressSandbox, err := socketPair()
	if err != nil {
		return fmt.Errorf("egress socket: %w", err)
	}
	files = append(files, egressSandbox)

	cg, err := p.cgroups.create(m.ID, p.limits)
	if err != nil {
		egressHost.Close()
		return err
	}
	cmd, err := p.bwrapCommand(bwrapPath, cg, bwrapArgv())
	if err != nil {
		egressHost.Close()
		p.destroyCgroup(m.ID, cg)
		return err
	}
	cmd.ExtraFiles = files
	tail := newLogTail(p.log.With("sandbox", m.ID))
	cmd.Stderr = tail
	cmd.WaitDelay = 5 * time.Second
	settled, err := p.startBwrap(cmd, m.UID, m.GID, []stage{{FD: fdWorkspace, Path: ws}, {FD: fdToolbox, Path: p.toolboxPath}}, cg)
	if cmd.SysProcAttr.UseCgroupFD {
		syscall.Close(cmd.SysProcAttr.CgroupFD)
	}
	if err != nil {
		egressHost.Close()
		p.destroyCgroup(m.ID, cg)
		return fmt.Errorf("start bwrap: %w", err)
	}

	// Only bwrap may hold the write end, so that we see EOF if it dies.
	infoW.Close()
	in := &instance{
		id:     m.ID,
		cmd:    cmd,
		client: toolbox.NewClient(dialToolbox(dir)),
		stderr: tail,
		init:   -1,
		done:   make(chan struct{}),
		cgroup: cg,
		egress: egressHost,
	}
	// Before the instance is shared: reap reads in.init.
	deadline := time.Now().Add(readyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	initPID, err := readChildPID(infoR, deadline)
	if err == nil {
		in.init, err = unix.PidfdOpen(initPID, 0)
		in.initPID = initPID
	}
	if err != nil {
		p.log.Warn("cannot track the sandbox's pid 1; stop will not wait for it", "sandbox", m.ID, "err", err)
	}
	p.mu.Lock()
	closed := p.closed
	p.running[m.ID] = in
	p.wg.Add(2)
	p.mu.Unlock()
	go p.reap(in)
	go p.serveEgress(in)

	if closed {
		in.kill()
		<-in.done
		return errors.New("engine is closed")
	}
	if err := p.waitReady(ctx, in); err != nil {
		in.kill()
		<-in.done
		return err
	}
	if err := <-settled; err != nil {
		in.kill()
		<-in.done
		return fmt.Errorf("start bwrap: %w", err)
	}
	p.log.Info("sandbox started", "id", m.ID, "uid", m.UID, "pid", cmd.Process.Pid, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// reap waits for bwrap, brings the rest of the sandbox down, marks it
// stopped and wakes up waiters. What it could not bring down is in in.err.
func (p *Provider) reap(in *instance) {
	defer p.wg.Done()
	pid := in.cmd.Process.Pid
	// Wait without reaping so the group id stays ours while we make sure
	// nothing of the group outlives its leader.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	in.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	in.exited = true
	in.mu.Unlock()
	deadline := time.Now().Add(stopTimeout)
	// bwrap may have died on its own, and pid 1 is not in its process
	// group: kill pid 1 and everything in the sandbox's cgroups now, so
	// that nothing below waits for a process nobody killed.
	in.kill()
	in.cgroup.kill()

	err := in.cmd.Wait()
	var errs []error
	if in.init >= 0 {
		// Its exit completes once the rest of its pid namespace is gone.
		if !waitPidfd(in.init, deadline) {
			errs = append(errs, fmt.Errorf("its pid 1 (host pid %d) did not exit within %s", in.initPID, stopTimeout))
		}
		in.mu.Lock()
		unix.Close(in.init)
		in.init = -1
		in.mu.Unlock()
	}
	in.client.Close()
	// Ends serveEgress; every proxied connection is the sandbox's.
	in.egress.Close()
	if cgErr := p.cgroups.destroy(in.cgroup, deadline); cgErr != nil {
		errs = append(errs, cgErr)
	}
	if len(errs) > 0 {
		// A later start cleans up the cgroups if they have become empty,
		// and fails saying so if not.
		in.err = fmt.Errorf("the sandbox could not be fully stopped: %w", errors.Join(errs...))
		p.log.Error("sandbox could not be fully stopped", "sandbox", in.id, "err", in.err)
	}
	p.mu.Lock()
	if p.running[in.id] == in {
		delete(p.running, in.id)
	}
	p.mu.Unlock()
	close(in.done)
	p.log.Debug("bwrap exited", "sandbox", in.id, "err", err)
}

func (p *Provider) waitReady(ctx context.Context, in *instance) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		// The socket already listens, so this connects at once and waits
		// for the toolbox to accept; it fails fast once bwrap is gone.
		hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
		err := in.client.Health(hctx)
		hcancel()
		if err == nil {
			return nil
		}
		timer := time.NewTimer(10 * time.Millisecond)
		select {
		case <-in.done:
			timer.Stop()
			return fmt.Errorf("sandbox exited during startup: %s", in.stderr.String())
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("toolbox did not answer: %w (last error: %v; stderr: %s)", ctx.Err(), err, in.stderr.String())
		case <-timer.C:
		}
	}
}

// viaDirFD calls fn with a short path naming dir/name through an fd of
// dir. sun_path holds only 107 bytes, and state dirs (test temp dirs in
// particular) can be deeper than that.
func viaDirFD(dir, name string, fn func(path string) error) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return fn("/proc/self/fd/" + strconv.Itoa(fd) + "/" + name)
}

// dialToolbox connects to the socket the host created in dir. Each dial
// opens its own fd of dir, so it can never name another directory.
func dialToolbox(dir string) toolbox.DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var conn net.Conn
		err := viaDirFD(dir, sockName, func(path string) error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, "unix", path)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", filepath.Join(dir, sockName), err)
		}
		return conn, nil
	}
}

// readChildPID reads bwrap's --info-fd document.
func readChildPID(r *os.File, deadline time.Time) (int, error) {
	_ = r.SetReadDeadline(deadline)
	var info struct {
		ChildPID int `json:"child-pid"`
	}
	if err := json.NewDecoder(r).Decode(&info); err != nil {
		return 0, fmt.Errorf("read bwrap info: %w", err)
	}
	if info.ChildPID <= 0 {
		return 0, errors.New("bwrap info lacks child-pid")
	}
	return info.ChildPID, nil
}

// waitPidfd waits until the process behind pidfd has exited, or until
// deadline; it reports whether the process exited.
func waitPidfd(pidfd int, deadline time.Time) bool {
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			ms = 0
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, ms)
		if n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
		if ms == 0 {
			return false
		}
	}
}

// openPath opens path without following a final symlink, for bwrap's
// --bind-fd/--ro-bind-fd.
func openPath(path string, dir bool) (*os.File, error) {
	flags := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if dir {
		flags |= unix.O_DIRECTORY
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// writePipe writes data and closes w. Data must fit in the pipe buffer
// because nobody reads before bwrap starts.
func writePipe(w *os.File, data []byte) error {
	defer w.Close()
	if len(data) > 60<<10 {
		return fmt.Errorf("%d bytes do not fit in a pipe buffer", len(data))
	}
	_, err := w.Write(data)
	return err
}

// bwrapCommand returns the command that runs bwrap with argv; start it
// with startBwrap. cg, if not nil, are the cgroups bwrap is started in.
func (p *Provider) bwrapCommand(bwrapPath string, cg *sandboxCgroup, argv []string) (*exec.Cmd, error) {
	cmd := exec.Command(bwrapPath)
	cmd.Args = argv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cg != nil && cg.v2 != "" {
		// CLONE_INTO_CGROUP: the child starts in the sandbox's cgroup.
		fd, err := syscall.Open(cg.v2, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = fd
	}
	// bwrap's pid 1 keeps the environment it was started with, readable
	// from inside via /proc/1/environ: give it nothing.
	cmd.Env = []string{}
	cmd.Dir = "/"
	return cmd, nil
}

// startBwrap starts cmd from bwrapCommand as uid:gid. stages name the
// inherited fds that bwrap binds with --bind-fd or --ro-bind-fd, and the
// paths they were opened on. The sandbox must not be used before settled
// reports success (see startStaged).
func (p *Provider) startBwrap(cmd *exec.Cmd, uid, gid int, stages []stage, cg *sandboxCgroup) (settled <-chan error, err error) {
	if !p.asRoot {
		// Unprivileged: bwrap runs as us and can resolve our own paths;
		// only cgroup v2 (CLONE_INTO_CGROUP) is in use.
		done := make(chan error, 1)
		done <- nil
		return done, cmd.Start()
	}
	// As root, bwrap must not run as root (its uid 1000 would be host uid
	// 0); see spawn.go. A v2 cgroup needs nothing from there: clone3 puts
	// the child in it (cmd's CgroupFD) before it drops to uid.
	var v1 map[string]string
	if cg != nil {
		v1 = cg.v1
	}
	return startStaged(cmd, uid, gid, stages, v1)
}

// destroyCgroup removes a sandbox's cgroups, logging what it cannot.
func (p *Provider) destroyCgroup(id string, cg *sandboxCgroup) {
	if err := p.cgroups.destroy(cg, time.Now().Add(stopTimeout)); err != nil {
		p.log.Error("remove sandbox cgroups", "sandbox", id, "err", err)
	}
}

// socketPair returns two connected Unix stream sockets: the host's as a
// *net.UnixConn, the other as a file to pass on.
func socketPair() (*net.UnixConn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	hostFile := os.NewFile(uintptr(fds[0]), "egress-host")
	defer hostFile.Close()
	c, err := net.FileConn(hostFile)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "egress-sandbox"), nil
}

// serveEgress serves the sandbox's proxied connections until it is gone.
func (p *Provider) serveEgress(in *instance) {
	defer p.wg.Done()
	if err := p.egress.ServeSandbox(in.id, in.egress); err != nil {
		p.log.Warn("egress proxy", "sandbox", in.id, "err", err)
	}
}

// logTail receives bwrap's and the toolbox's stderr: it logs every line
// and keeps the last few KiB to explain a failed launch.
type logTail struct {
	log *slog.Logger

	mu   sync.Mutex
	tail []byte
	line []byte
}

const (
	logTailSize = 4 << 10
	maxLogLine  = 4 << 10
)

func newLogTail(log *slog.Logger) *logTail { return &logTail{log: log} }

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tail = append(t.tail, p...)
	if over := len(t.tail) - logTailSize; over > 0 {
		t.tail = append(t.tail[:0], t.tail[over:]...)
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.line = append(t.line, rest[:min(len(rest), maxLogLine-len(t.line))]...)
			break
		}
		t.line = append(t.line, rest[:min(i, maxLogLine-len(t.line))]...)
		t.log.Debug("sandbox output", "line", string(t.line))
		t.line = t.line[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.tail))
}
