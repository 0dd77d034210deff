// Package bwrap is the local sandbox engine: one bubblewrap sandbox per
// QuickVibe sandbox, each with its own user, pid, ipc, uts, cgroup and
// network namespace, a persistent workspace, and the toolbox daemon as its
// only long-lived process.
//
// On disk, under Config.Dir:
//
//	.toolbox/qv-toolbox   stable copy of the toolbox binary bound into sandboxes
//	<id>/                 root-owned 0700, never visible to the sandbox
//	<id>/meta.json        id, host uid/gid, labels, creation time
//	<id>/toolbox.sock     listening socket created by the host, served by the toolbox
//	<id>/workspace/       the sandbox's /workspace, owned by its host uid
//
// When the server runs as root every sandbox gets its own unprivileged host
// uid (from 200000 up), so that its uid 1000 is that uid on the host and
// never root. See launch.go for exactly how bwrap is started, and
// spawn.go for how a root server drops to that uid.
package bwrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quickvibe/quickvibe/internal/egress"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

var _ sandbox.Provider = (*Provider)(nil)

// Config configures the engine.
type Config struct {
	// Dir is the state directory, e.g. data/sandboxes. Required.
	Dir string
	// BwrapPath is the bwrap binary; empty means look up "bwrap" on PATH.
	BwrapPath string
	// ToolboxExecutable, when set, is the content of the toolbox executable
	// (cmd/qv-toolbox, embedded in the server): it is written to the state
	// dir and bound into every sandbox, and ToolboxBinary is ignored.
	ToolboxExecutable []byte
	// ToolboxBinary is bound into every sandbox as the toolbox; empty means
	// this executable (which must call toolbox.DispatchIfToolbox first).
	ToolboxBinary string
	// ExecTimeout applies to Exec requests without a timeout (default 2m).
	ExecTimeout time.Duration
	Logger      *slog.Logger
	// Limits of every sandbox; nil means DefaultLimits. See isolation.go.
	Limits *Limits
	// Egress serves the sandboxes' HTTP(S) proxy; nil refuses everything.
	Egress *egress.Proxy
	// WarmPool is how many sandboxes are kept launched ahead of time for
	// Create to hand out (see pool.go); 0 launches every sandbox on
	// demand.
	WarmPool int
}

const (
	defaultExecTimeout = 2 * time.Minute
	// readyTimeout bounds how long a launch may take until the toolbox
	// answers its health check.
	readyTimeout = 30 * time.Second
	// probeUID runs the readiness probe; it is below every sandbox uid.
	probeUID = firstUID - 1
)

// Provider implements sandbox.Provider with bubblewrap.
type Provider struct {
	dir         string
	toolboxPath string // Dir/.toolbox/qv-toolbox
	execTimeout time.Duration
	log         *slog.Logger
	// asRoot: the server runs as root and so gives every sandbox its own
	// host uid; otherwise sandboxes run as the server's uid.
	asRoot bool
	isolation

	readyMu       sync.Mutex
	bwrapOverride string
	bwrapPath     string // resolved by the last probe
	readyErr      error  // verdict of the last probe

	// allocMu makes choosing a uid and persisting it one step.
	allocMu sync.Mutex

	mu      sync.Mutex
	locks   map[string]*sync.Mutex // per-sandbox lifecycle (start/stop/delete)
	running map[string]*instance
	closed  bool
	// wg counts the goroutines that wait for bwrap processes, and the warm
	// pool's refill loop.
	wg sync.WaitGroup
	// pool is nil without Config.WarmPool.
	pool *warmPool
}

// New prepares the state directory and the toolbox binary. A host without
// a usable bubblewrap is not an error here: Ready reports why, and Create
// fails with that reason, so the server can still start and say so.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Dir == "" {
		return nil, errors.New("bwrap: config: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("bwrap: resolve state dir: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = defaultExecTimeout
	}
	if cfg.ToolboxBinary == "" && len(cfg.ToolboxExecutable) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bwrap: find own executable for the toolbox: %w", err)
		}
		cfg.ToolboxBinary = exe
	}
	// The time package opens zone files without O_CLOEXEC; load the zone
	// now so such an fd cannot be open while bwrap is forked.
	_, _ = time.Now().Zone()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bwrap: create state dir: %w", err)
	}
	p := &Provider{
		dir:           dir,
		execTimeout:   cfg.ExecTimeout,
		log:           cfg.Logger.With("engine", "bwrap"),
		asRoot:        os.Geteuid() == 0,
		bwrapOverride: cfg.BwrapPath,
		locks:         make(map[string]*sync.Mutex),
		running:       make(map[string]*instance),
	}
	if err := p.initIsolation(cfg); err != nil {
		return nil, fmt.Errorf("bwrap: %w", err)
	}
	if len(cfg.ToolboxExecutable) > 0 {
		p.toolboxPath, err = writeToolbox(cfg.ToolboxExecutable, filepath.Join(dir, ".toolbox"))
		p.log.Info("sandbox toolbox: the embedded executable", "bytes", len(cfg.ToolboxExecutable))
	} else {
		p.toolboxPath, err = installToolbox(cfg.ToolboxBinary, filepath.Join(dir, ".toolbox"))
		p.log.Info("sandbox toolbox: a whole binary, so sandboxes start slower (make build embeds a small one)", "binary", cfg.ToolboxBinary)
	}
	if err != nil {
		return nil, fmt.Errorf("bwrap: install toolbox: %w", err)
	}
	if err := p.removeStaleSockets(); err != nil {
		return nil, fmt.Errorf("bwrap: %w", err)
	}
	if err := p.removeAllPooled(); err != nil {
		return nil, fmt.Errorf("bwrap: remove pooled sandboxes a previous server left: %w", err)
	}
	if err := p.Ready(ctx); err != nil {
		p.log.Warn("local sandboxes unavailable", "err", err)
	}
	p.startPool(cfg.WarmPool)
	return p, nil
}

// removeStaleSockets removes the toolbox sockets a previous server left
// behind (after a crash): nothing of this engine runs yet, and every
// sandbox (--die-with-parent) died with the server that launched it.
func (p *Provider) removeStaleSockets() error {
	ids, err := p.listIDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		err := os.Remove(filepath.Join(p.sandboxDir(id), sockName))
		if err == nil {
			p.log.Info("removed stale toolbox socket", "sandbox", id)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale toolbox socket of %s: %w", id, err)
		}
	}
	return nil
}

// Name implements sandbox.Provider.
func (p *Provider) Name() string { return "bwrap" }

// Ready implements sandbox.Provider. A failed verdict is re-checked on
// every call, so fixing the host needs no restart; a good one is kept.
func (p *Provider) Ready(ctx context.Context) error {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	if p.bwrapPath != "" && p.readyErr == nil {
		return nil
	}
	path, err := p.probe(ctx)
	p.bwrapPath, p.readyErr = path, err
	return err
}

func (p *Provider) bwrap() string {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	return p.bwrapPath
}

// Create implements sandbox.Provider.
func (p *Provider) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Info, error) {
	if err := p.Ready(ctx); err != nil {
		return sandbox.Info{}, fmt.Errorf("create sandbox: %w", err)
	}
	if p.isClosed() {
		return sandbox.Info{}, errors.New("create sandbox: engine is closed")
	}
	if info, ok := p.takePooled(spec); ok {
		return info, nil
	}
	id, err := p.create(ctx, spec, false)
	if err != nil {
		return sandbox.Info{}, fmt.Errorf("create sandbox: %w", err)
	}
	m, err := p.readMeta(id)
	if err != nil {
		return sandbox.Info{}, fmt.Errorf("create sandbox: %w", err)
	}
	return p.info(m), nil
}

// create makes and launches a new sandbox, for the warm pool if pooled.
func (p *Provider) create(ctx context.Context, spec sandbox.Spec, pooled bool) (string, error) {
	id, err := p.makeSandboxDir()
	if err != nil {
		return "", err
	}
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()

	m, err := p.initSandbox(id, spec, pooled)
	if err == nil {
		err = p.launch(ctx, m)
	}
	if err != nil {
		// A sandbox that never ran leaves nothing behind.
		if uerr := p.unmountWorkspace(id); uerr != nil {
			p.log.Error("unmount failed sandbox's workspace", "id", id, "err", uerr)
		}
		if rerr := os.RemoveAll(p.sandboxDir(id)); rerr != nil {
			p.log.Error("remove failed sandbox", "id", id, "err", rerr)
		}
		p.forgetLock(id)
		return "", err
	}
	return id, nil
}

func (p *Provider) makeSandboxDir() (string, error) {
	for range 5 {
		id, err := newID()
		if err != nil {
			return "", err
		}
		err = os.Mkdir(p.sandboxDir(id), 0o700)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create sandbox dir: %w", err)
		}
	}
	return "", errors.New("could not pick an unused sandbox id")
}

func (p *Provider) initSandbox(id string, spec sandbox.Spec, pooled bool) (meta, error) {
	m := meta{ID: id, Labels: maps.Clone(spec.Labels), CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Pooled: pooled}
	ws := filepath.Join(p.sandboxDir(id), "workspace")
	if err := os.Mkdir(ws, 0o755); err != nil {
		return meta{}, fmt.Errorf("create workspace: %w", err)
	}
	p.allocMu.Lock()
	defer p.allocMu.Unlock()
	if p.asRoot {
		uid, err := p.allocateUID()
		if err != nil {
			return meta{}, err
		}
		m.UID, m.GID = uid, uid
		if err := os.Chown(ws, uid, uid); err != nil {
			return meta{}, fmt.Errorf("chown workspace: %w", err)
		}
	} else {
		m.UID, m.GID = os.Getuid(), os.Getgid()
	}
	if err := p.writeMeta(m); err != nil {
		return meta{}, err
	}
	return m, nil
}

// Start implements sandbox.Provider.
func (p *Provider) Start(ctx context.Context, id string) error {
	if _, err := p.readMeta(id); err != nil {
		return err
	}
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()
	// Read again under the lock: it may have been deleted meanwhile.
	m, err := p.readMeta(id)
	if err != nil {
		return err
	}
	if p.instance(id) != nil {
		return nil
	}
	if err := p.Ready(ctx); err != nil {
		return fmt.Errorf("start sandbox %s: %w", id, err)
	}
	if p.isClosed() {
		return fmt.Errorf("start sandbox %s: engine is closed", id)
	}
	if err := p.launch(ctx, m); err != nil {
		return fmt.Errorf("start sandbox %s: %w", id, err)
	}
	return nil
}

// Stop implements sandbox.Provider.
func (p *Provider) Stop(ctx context.Context, id string) error {
	if _, err := p.readMeta(id); err != nil {
		return err
	}
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()
	return p.stop(ctx, id)
}

// stop kills the sandbox's processes and waits for them; the caller holds
// the sandbox's lock.
func (p *Provider) stop(ctx context.Context, id string) error {
	in := p.instance(id)
	if in == nil {
		return nil
	}
	in.kill()
	select {
	case <-in.done:
		if in.err != nil {
			// reap has logged it.
			return fmt.Errorf("stop sandbox %s: %w", id, in.err)
		}
		p.log.Info("sandbox stopped", "id", id)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop sandbox %s: %w", id, ctx.Err())
	}
}

// Delete implements sandbox.Provider.
func (p *Provider) Delete(ctx context.Context, id string) error {
	if _, err := p.readMeta(id); err != nil {
		return err
	}
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()
	if _, err := p.readMeta(id); err != nil {
		return err
	}
	if err := p.stop(ctx, id); err != nil {
		return err
	}
	if err := p.unmountWorkspace(id); err != nil {
		return fmt.Errorf("delete sandbox %s: %w", id, err)
	}
	if err := removeAll(p.sandboxDir(id)); err != nil {
		return fmt.Errorf("delete sandbox %s: %w", id, err)
	}
	p.forgetLock(id)
	p.log.Info("sandbox deleted", "id", id)
	return nil
}

// Get implements sandbox.Provider.
func (p *Provider) Get(ctx context.Context, id string) (sandbox.Info, error) {
	m, err := p.readMeta(id)
	if err != nil {
		return sandbox.Info{}, err
	}
	return p.info(m), nil
}

// List implements sandbox.Provider, oldest first.
func (p *Provider) List(ctx context.Context) ([]sandbox.Info, error) {
	ids, err := p.listIDs()
	if err != nil {
		return nil, err
	}
	infos := make([]sandbox.Info, 0, len(ids))
	for _, id := range ids {
		m, err := p.readMeta(id)
		if errors.Is(err, sandbox.ErrNotFound) {
			continue // being created or deleted
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, p.info(m))
	}
	slices.SortFunc(infos, func(a, b sandbox.Info) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return infos, nil
}

func (p *Provider) info(m meta) sandbox.Info {
	state := sandbox.StateStopped
	if p.instance(m.ID) != nil {
		state = sandbox.StateRunning
	}
	return sandbox.Info{ID: m.ID, State: state, Labels: maps.Clone(m.Labels), CreatedAt: m.CreatedAt}
}

// Exec implements sandbox.Provider.
func (p *Provider) Exec(ctx context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	in, err := p.runningInstance(id)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	if req.Timeout <= 0 {
		req.Timeout = p.execTimeout
	}
	res, err := in.client.Exec(ctx, req)
	if err != nil {
		return sandbox.ExecResult{}, in.callError("exec", err)
	}
	return res, nil
}

// StartProcess implements sandbox.Provider.
func (p *Provider) StartProcess(ctx context.Context, id string, req sandbox.ProcessRequest) error {
	in, err := p.runningInstance(id)
	if err != nil {
		return err
	}
	if err := in.client.StartProcess(ctx, req); err != nil {
		return in.callError("start process", err)
	}
	return nil
}

// Process implements sandbox.Provider.
func (p *Provider) Process(ctx context.Context, id, name string) (sandbox.ProcessStatus, error) {
	in, err := p.runningInstance(id)
	if err != nil {
		return sandbox.ProcessStatus{}, err
	}
	st, err := in.client.Process(ctx, name)
	if err != nil {
		return sandbox.ProcessStatus{}, in.callError("process status", err)
	}
	return st, nil
}

// DialPort implements sandbox.Provider. While nothing listens on the port
// the error wraps toolbox.ErrPortNotAnswering.
func (p *Provider) DialPort(ctx context.Context, id string, port int) (net.Conn, error) {
	in, err := p.runningInstance(id)
	if err != nil {
		return nil, err
	}
	conn, err := in.client.DialPort(ctx, port)
	if err != nil {
		return nil, in.callError("dial port", err)
	}
	return conn, nil
}

// Close implements sandbox.Provider: it kills every sandbox and waits for
// all of them, and reports those it could not fully stop. Workspaces stay
// on disk.
func (p *Provider) Close() error {
	if p.pool != nil {
		p.pool.cancel()
	}
	p.mu.Lock()
	p.closed = true
	ins := slices.Collect(maps.Values(p.running))
	p.mu.Unlock()
	for _, in := range ins {
		in.kill()
	}
	p.wg.Wait()
	var errs []error
	for _, in := range ins {
		if in.err != nil {
			errs = append(errs, fmt.Errorf("sandbox %s: %w", in.id, in.err))
		}
	}
	if err := p.removeAllPooled(); err != nil {
		p.log.Error("remove pooled sandboxes", "err", err)
	}
	p.unmountWorkspaces()
	return errors.Join(errs...)
}

func (p *Provider) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Provider) lock(id string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.locks[id]
	if l == nil {
		l = new(sync.Mutex)
		p.locks[id] = l
	}
	return l
}

// forgetLock drops a deleted sandbox's lock. Anyone still waiting on it
// re-reads the metadata after locking and finds the sandbox gone.
func (p *Provider) forgetLock(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.locks, id)
}

func (p *Provider) instance(id string) *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running[id]
}

// runningInstance returns the running sandbox or wraps ErrNotFound or
// ErrNotRunning.
func (p *Provider) runningInstance(id string) (*instance, error) {
	if _, err := p.readMeta(id); err != nil {
		return nil, err
	}
	in := p.instance(id)
	if in == nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, sandbox.ErrNotRunning)
	}
	return in, nil
}

// removeAll removes a sandbox directory. RemoveAll does not follow the
// symlinks the sandbox planted. Root may remove anything; an unprivileged
// engine shares its uid with the sandbox, which may have left directories
// without permissions, so those are opened up and removal retried. The
// sandbox is stopped, so nothing changes the tree meanwhile.
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		// Entries are not followed: d.IsDir is false for symlinks.
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// installToolbox puts a stable copy of bin at dir/qv-toolbox: bwrap binds
// that file, so replacing or deleting the server binary later (upgrades,
// `go test` cleaning up) cannot break sandboxes. A hard link costs nothing
// when both sit on one file system; otherwise the file is copied.
func installToolbox(bin, dir string) (string, error) {
	return replaceToolbox(dir, func(tmp string) error {
		if err := os.Link(bin, tmp); err == nil {
			// The sandbox uid must be able to execute it; a link shares the
			// original's mode, which we must not change.
			if st, err := os.Stat(tmp); err == nil && st.Mode().Perm()&0o555 == 0o555 {
				return nil
			}
			os.Remove(tmp)
		}
		in, err := os.Open(bin)
		if err != nil {
			return err
		}
		defer in.Close()
		return writeExecutable(tmp, in)
	})
}

// writeToolbox writes the toolbox executable exe to dir/qv-toolbox.
func writeToolbox(exe []byte, dir string) (string, error) {
	if !bytes.HasPrefix(exe, []byte("\x7fELF")) {
		return "", errors.New("the toolbox executable is not an ELF executable")
	}
	return replaceToolbox(dir, func(tmp string) error {
		return writeExecutable(tmp, bytes.NewReader(exe))
	})
}

// replaceToolbox makes dir/qv-toolbox anew: fill creates the new file at a
// temporary name, which then replaces the old one in a single rename, so a
// sandbox never binds a half-written toolbox.
func replaceToolbox(dir string, fill func(tmp string) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	suffix, err := newID()
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, ".tmp-"+suffix)
	if err := fill(tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	dst := filepath.Join(dir, toolbox.ToolboxName)
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return dst, nil
}

// writeExecutable creates path (which must not exist) with r's content,
// executable by everyone (the sandbox uids).
func writeExecutable(path string, r io.Reader) error {
	const perm = 0o755
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	// The umask may have cleared bits of perm.
	if err := out.Chmod(perm); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// probe finds bwrap and runs a throw-away sandbox with the namespaces the
// real ones need, as the kind of user the real ones run as.
func (p *Provider) probe(ctx context.Context) (string, error) {
	path := p.bwrapOverride
	if path == "" {
		found, err := exec.LookPath("bwrap")
		if err != nil {
			return "", errors.New("bubblewrap (bwrap) not found on PATH: install it with apt-get install bubblewrap")
		}
		path = found
	} else if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("bubblewrap not found at %s (config BwrapPath): install it with apt-get install bubblewrap or fix the path: %w", path, err)
	}
	if hint := userNamespaceHint(); hint != "" {
		return "", errors.New(hint)
	}
	// The probe goes through the same launch path as a real sandbox and
	// runs the bound toolbox binary inside, so a binary that does not
	// dispatch to the toolbox is caught here too.
	tb, err := openPath(p.toolboxPath, false)
	if err != nil {
		return "", fmt.Errorf("open toolbox binary: %w", err)
	}
	defer tb.Close()
	uid, gid := os.Getuid(), os.Getgid()
	if p.asRoot {
		uid, gid = probeUID, probeUID
	}
	cmd, err := p.bwrapCommand(path, nil, []string{"bwrap",
		"--die-with-parent", "--unshare-user", "--uid", strconv.Itoa(sandboxUID), "--gid", strconv.Itoa(sandboxUID),
		"--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
		"--disable-userns", "--cap-drop", "ALL",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--proc", "/proc", "--dev", "/dev",
		"--ro-bind-fd", "3", toolbox.ToolboxPath,
		"--", toolbox.ToolboxPath, "version"})
	if err != nil {
		return "", err
	}
	cmd.ExtraFiles = []*os.File{tb}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	settled, err := p.startBwrap(cmd, uid, gid, []stage{{FD: 3, Path: p.toolboxPath}}, nil)
	if err != nil {
		return "", fmt.Errorf("run bubblewrap probe: %w", err)
	}
	// A misbehaving binary must not hang the probe.
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	timer := time.AfterFunc(15*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = errors.Join(cmd.Wait(), <-settled)
	stop()
	timer.Stop()
	msg := strings.TrimSpace(out.String())
	if err != nil {
		if msg == "" {
			msg = err.Error()
		}
		hint := "check that unprivileged user namespaces are allowed (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces"
		if b, _ := os.ReadFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); strings.TrimSpace(string(b)) == "1" {
			hint += ", kernel.apparmor_restrict_unprivileged_userns=1 needs an AppArmor profile for bwrap"
		}
		return "", fmt.Errorf("bubblewrap at %s cannot create a sandbox: %s: %s)", path, msg, hint)
	}
	if !strings.Contains(msg, toolbox.VersionLine) {
		return "", fmt.Errorf("toolbox binary %s does not act as the toolbox inside a sandbox (does its main call toolbox.DispatchIfToolbox first?); output: %q", p.toolboxPath, msg)
	}
	return path, nil
}

// userNamespaceHint explains the common ways user namespaces are switched
// off, or returns "".
func userNamespaceHint() string {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if read("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
		return "unprivileged user namespaces are disabled: enable them with sysctl -w kernel.unprivileged_userns_clone=1"
	}
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		return "user namespaces are disabled: enable them with sysctl -w user.max_user_namespaces=15000"
	}
	return ""
}
