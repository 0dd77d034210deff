package bwrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Workspace file access from the host. The sandbox owns everything in its
// workspace and can plant symlinks anywhere in it, so every access goes
// through an os.Root opened on the workspace: it resolves symlinks itself
// and refuses any that lead outside. Files work whether or not the sandbox
// is running.

const (
	// MaxReadFile caps ReadFile.
	MaxReadFile = 10 << 20
	// MaxListFiles caps ListFiles.
	MaxListFiles = 5000
)

// fsError maps os.Root's refusal to follow a path out of the workspace to
// ErrPathEscapes.
func fsError(op, p string, err error) error {
	var pe *fs.PathError
	// os.Root does not export its escape error; its message is stable.
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return fmt.Errorf("%s %q: %w", op, p, sandbox.ErrPathEscapes)
	}
	return fmt.Errorf("%s %q: %w", op, p, err)
}

func (p *Provider) openWorkspace(id string) (*os.Root, meta, error) {
	m, err := p.readMeta(id)
	if err != nil {
		return nil, meta{}, err
	}
	root, err := os.OpenRoot(filepath.Join(p.sandboxDir(id), "workspace"))
	if err != nil {
		return nil, meta{}, fmt.Errorf("sandbox %s: open workspace: %w", id, err)
	}
	return root, m, nil
}

// ReadFile implements sandbox.Provider.
func (p *Provider) ReadFile(ctx context.Context, id, name string) ([]byte, error) {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return nil, err
	}
	root, _, err := p.openWorkspace(id)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// O_NONBLOCK: opening a FIFO the sandbox planted must not hang us.
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fsError("read", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fsError("read", name, err)
	}
	switch {
	case st.IsDir():
		return nil, fmt.Errorf("read %q: %w", name, sandbox.ErrIsDirectory)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("read %q: not a regular file (%s)", name, st.Mode().Type())
	case st.Size() > MaxReadFile:
		return nil, fmt.Errorf("read %q: %d bytes: %w", name, st.Size(), sandbox.ErrFileTooBig)
	}
	// The file may grow while we read it.
	data, err := io.ReadAll(io.LimitReader(f, MaxReadFile+1))
	if err != nil {
		return nil, fsError("read", name, err)
	}
	if len(data) > MaxReadFile {
		return nil, fmt.Errorf("read %q: %w", name, sandbox.ErrFileTooBig)
	}
	return data, nil
}

// WriteFile implements sandbox.Provider: write a temporary file next to
// the target, then rename it into place.
func (p *Provider) WriteFile(ctx context.Context, id, name string, data []byte) error {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("write %q: %w", name, sandbox.ErrIsDirectory)
	}
	root, m, err := p.openWorkspace(id)
	if err != nil {
		return err
	}
	defer root.Close()

	parent := path.Dir(rel)
	if err := p.mkdirAll(root, m, parent); err != nil {
		return fsError("write", name, err)
	}
	perm := os.FileMode(0o644)
	if st, err := root.Lstat(rel); err == nil {
		if st.IsDir() {
			return fmt.Errorf("write %q: %w", name, sandbox.ErrIsDirectory)
		}
		if st.Mode().IsRegular() {
			perm = st.Mode().Perm() // keep e.g. the executable bit
		}
	}

	suffix, err := newID()
	if err != nil {
		return err
	}
	tmp := path.Join(parent, ".qv-write-"+suffix)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fsError("write", name, err)
	}
	_, err = f.Write(data)
	if err == nil && p.asRoot {
		// fchown on our own fd: the sandbox must be able to edit it later.
		err = f.Chown(m.UID, m.GID)
	}
	if err == nil {
		err = f.Chmod(perm) // not reduced by the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Rename replaces a symlink at rel, never its target.
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fsError("write", name, err)
	}
	return nil
}

// mkdirAll creates dir and its parents inside root, giving new directories
// to the sandbox uid.
func (p *Provider) mkdirAll(root *os.Root, m meta, dir string) error {
	if dir == "." {
		return nil
	}
	cur := ""
	for _, elem := range strings.Split(dir, "/") {
		cur = path.Join(cur, elem)
		err := root.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if p.asRoot {
				// Lchown: if the sandbox swapped the new directory for a
				// symlink meanwhile, we change the link, not its target.
				if err := root.Lchown(cur, m.UID, m.GID); err != nil {
					return err
				}
			}
		case errors.Is(err, fs.ErrExist):
			st, err := root.Stat(cur)
			if err != nil {
				return err
			}
			if !st.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: cur, Err: syscall.ENOTDIR}
			}
		default:
			return err
		}
	}
	return nil
}

// DeleteFile implements sandbox.Provider; directories are removed with
// their contents.
func (p *Provider) DeleteFile(ctx context.Context, id, name string) error {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("delete %q: refusing to delete the workspace root", name)
	}
	root, _, err := p.openWorkspace(id)
	if err != nil {
		return err
	}
	defer root.Close()
	st, err := root.Lstat(rel)
	if err != nil {
		return fsError("delete", name, err)
	}
	if st.IsDir() {
		err = root.RemoveAll(rel)
	} else {
		err = root.Remove(rel)
	}
	if err != nil {
		return fsError("delete", name, err)
	}
	return nil
}

// ListFiles implements sandbox.Provider. Symlinks are listed, never
// followed; node_modules and .git are listed but not descended into; at
// most MaxListFiles entries are returned.
func (p *Provider) ListFiles(ctx context.Context, id, dir string) ([]sandbox.FileInfo, error) {
	rel, err := sandbox.CleanPath(dir)
	if err != nil {
		return nil, err
	}
	root, _, err := p.openWorkspace(id)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fsys := root.FS()
	st, err := fs.Stat(fsys, rel)
	if err != nil {
		return nil, fsError("list", dir, err)
	}
	if !st.IsDir() {
		return nil, fsError("list", dir, &fs.PathError{Op: "list", Path: rel, Err: syscall.ENOTDIR})
	}
	files := []sandbox.FileInfo{}
	err = fs.WalkDir(fsys, rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == rel {
				return err
			}
			return nil // vanished or unreadable: skip
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == rel {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, sandbox.FileInfo{Path: p, Size: info.Size(), IsDir: d.IsDir(), ModTime: info.ModTime()})
		if len(files) >= MaxListFiles {
			return fs.SkipAll
		}
		if d.IsDir() && sandbox.SkipListing(d.Name()) {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fsError("list", dir, err)
	}
	return files, nil
}
