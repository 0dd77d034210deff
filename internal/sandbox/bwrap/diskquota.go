package bwrap

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Workspace disk limit: with Limits.DiskBytes set and a root server, every
// workspace is its own ext4 file system in <id>/workspace.img (root-owned,
// in the root-only sandbox dir), loop-mounted on <id>/workspace. Writes past
// the size fail with ENOSPC inside the sandbox and never reach the host's
// file system. The mount stays while the engine runs, so the host can read
// a stopped sandbox's files; Close and Delete unmount it, and New mounts
// the images again (or adopts mounts a killed server left).
//
// Without root or mkfs.ext4 the limit is not enforced, and New says so.

const wsImageName = "workspace.img"

// WorkspaceLimitReason says why this process could not enforce a
// workspace disk limit, or "" if it can (for `quickvibe doctor`).
func WorkspaceLimitReason() string { return diskQuotaReason(os.Geteuid() == 0) }

// diskQuotaReason says why the workspace limit cannot be enforced, or "".
func diskQuotaReason(asRoot bool) string {
	if !asRoot {
		return "loop-mounting a per-sandbox file system needs a server running as root"
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return "mkfs.ext4 not found: apt-get install e2fsprogs"
	}
	return ""
}

// isMountPoint reports whether dir is the root of a mounted file system.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// mountWorkspace makes sure sandbox m's workspace is its size-limited file
// system, creating it on first use. A workspace that already holds files
// from before the limit was configured stays as it is (logged).
func (p *Provider) mountWorkspace(m meta) error {
	if !p.diskQuota {
		return nil
	}
	dir := p.sandboxDir(m.ID)
	ws := filepath.Join(dir, "workspace")
	img := filepath.Join(dir, wsImageName)
	mounted, err := isMountPoint(ws)
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	if mounted {
		return nil
	}
	fresh := false
	if _, err := os.Lstat(img); errors.Is(err, os.ErrNotExist) {
		entries, err := os.ReadDir(ws)
		if err != nil {
			return fmt.Errorf("workspace: %w", err)
		}
		if len(entries) > 0 {
			p.log.Warn("workspace predates the disk limit; not limited", "sandbox", m.ID)
			return nil
		}
		if err := makeImage(img, p.limits.DiskBytes, m.UID, m.GID); err != nil {
			os.Remove(img)
			return err
		}
		fresh = true
	} else if err != nil {
		return fmt.Errorf("workspace image: %w", err)
	}
	// mount(8) sets up the loop device (autoclear: freed on unmount).
	out, err := exec.Command("mount", "-t", "ext4", "-o", "loop,nodev,nosuid,noatime", img, ws).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount workspace image: %v: %s", err, out)
	}
	if fresh {
		// mkfs's lost+found would show up in the project's files.
		if err := os.Remove(filepath.Join(ws, "lost+found")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("workspace: %w", err)
		}
	}
	return nil
}

// makeImage creates a sparse ext4 image of size bytes whose root directory
// belongs to uid:gid.
func makeImage(img string, size int64, uid, gid int) error {
	f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("workspace image: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("workspace image: %w", err)
	}
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0",
		"-E", "root_owner="+strconv.Itoa(uid)+":"+strconv.Itoa(gid), img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}

// unmountWorkspace unmounts a sandbox's workspace file system if mounted.
// The sandbox is stopped.
func (p *Provider) unmountWorkspace(id string) error {
	ws := filepath.Join(p.sandboxDir(id), "workspace")
	mounted, err := isMountPoint(ws)
	if err != nil || !mounted {
		return nil
	}
	if err := syscall.Unmount(ws, 0); err != nil {
		if err := syscall.Unmount(ws, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount workspace of %s: %w", id, err)
		}
	}
	return nil
}

// unmountWorkspaces unmounts every workspace of this engine (at Close).
func (p *Provider) unmountWorkspaces() {
	if !p.diskQuota {
		return
	}
	ids, err := p.listIDs()
	if err != nil {
		p.log.Error("unmount workspaces", "err", err)
		return
	}
	for _, id := range ids {
		if err := p.unmountWorkspace(id); err != nil {
			p.log.Error("unmount workspace", "sandbox", id, "err", err)
		}
	}
}

// mountWorkspaces mounts every existing workspace image (at New), so that
// stopped sandboxes' files are readable.
func (p *Provider) mountWorkspaces() {
	if !p.diskQuota {
		return
	}
	ids, err := p.listIDs()
	if err != nil {
		p.log.Error("mount workspaces", "err", err)
		return
	}
	for _, id := range ids {
		m, err := p.readMeta(id)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(filepath.Join(p.sandboxDir(id), wsImageName)); err != nil {
			continue
		}
		if err := p.mountWorkspace(m); err != nil {
			p.log.Error("mount workspace", "sandbox", id, "err", err)
		}
	}
}
