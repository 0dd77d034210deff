package version

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// entry is one file of a tree.
type entry struct {
	mode string
	sha  string
	path string
	size int64
}

// treeEntries lists the files of a commit or tree. Anything but a regular
// file (symlinks, submodules) is refused: a version is plain files.
func treeEntries(ctx context.Context, g git, rev string) ([]entry, error) {
	out, err := g.run(ctx, cmdOpts{}, "ls-tree", "-r", "-z", "-l", "--full-tree", rev)
	if err != nil {
		return nil, err
	}
	var es []entry
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		// "<mode> SP <type> SP <sha> SP+ <size> TAB <path>"
		meta, p, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 4 {
			return nil, fmt.Errorf("parse ls-tree record %q", rec)
		}
		if f[1] != "blob" || (f[0] != "100644" && f[0] != "100755") {
			return nil, &UnsafeError{Msg: fmt.Sprintf("%q is not a regular file (git mode %s)", p, f[0])}
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse size in ls-tree record %q: %w", rec, err)
		}
		es = append(es, entry{mode: f[0], sha: f[2], path: p, size: size})
	}
	return es, nil
}

func hashObject(ctx context.Context, g git, data []byte) (string, error) {
	out, err := g.run(ctx, cmdOpts{stdin: bytes.NewReader(data)}, "hash-object", "-w", "--stdin")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// writeTree builds a tree from entries in a temporary index that lives
// inside the repository directory, so no work tree is involved.
func writeTree(ctx context.Context, g git, es []entry) (string, error) {
	tmp, err := os.MkdirTemp(g.dir, "index-")
	if err != nil {
		return "", fmt.Errorf("temporary index: %w", err)
	}
	defer os.RemoveAll(tmp)
	env := []string{"GIT_INDEX_FILE=" + tmp + "/index"}
	var in bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&in, "%s %s\t%s\x00", e.mode, e.sha, e.path)
	}
	if _, err := g.run(ctx, cmdOpts{stdin: &in, env: env}, "update-index", "--add", "-z", "--index-info"); err != nil {
		return "", err
	}
	out, err := g.run(ctx, cmdOpts{env: env}, "write-tree")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// cleanMessage keeps a commit message printable: git log's records are
// separated by control characters.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// commitTree records tree as the new version on top of parent ("" for the
// first) and moves the branch, refusing if it moved meanwhile.
func commitTree(ctx context.Context, g git, tree, parent string, c Commit) (string, error) {
	msg := cleanMessage(c.Message)
	if msg == "" {
		msg = "(no message)"
	}
	msg += "\n\n"
	if c.RunID != "" {
		msg += trailerRun + ": " + cleanMessage(c.RunID) + "\n"
	}
	if c.Kind != "" {
		msg += trailerKind + ": " + cleanMessage(c.Kind) + "\n"
	}
	name, email := cleanMessage(c.AuthorName), cleanMessage(c.AuthorEmail)
	if email == "" {
		email = "quickvibe@localhost"
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	when := c.Time
	if when.IsZero() {
		when = time.Now()
	}
	date := fmt.Sprintf("@%d +0000", when.Unix())
	env := []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=QuickVibe", "GIT_COMMITTER_EMAIL=quickvibe@localhost", "GIT_COMMITTER_DATE=" + date,
	}
	args := []string{"commit-tree", tree}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	out, err := g.run(ctx, cmdOpts{stdin: strings.NewReader(msg), env: env}, append(args, "-F", "-")...)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(out))
	old := parent
	if old == "" {
		old = zeroID
	}
	if _, err := g.run(ctx, cmdOpts{}, "update-ref", "-m", "quickvibe: "+c.Kind, branch, id, old); err != nil {
		return "", err
	}
	return id, nil
}

// commitEntries makes a version of es unless it equals the latest one.
// The caller holds the project's lock.
func commitEntries(ctx context.Context, g git, es []entry, c Commit) (Version, bool, error) {
	tree, err := writeTree(ctx, g, es)
	if err != nil {
		return Version{}, false, err
	}
	return commitTreeIfChanged(ctx, g, tree, c)
}

func commitTreeIfChanged(ctx context.Context, g git, tree string, c Commit) (Version, bool, error) {
	parent, err := head(ctx, g)
	if err != nil {
		return Version{}, false, err
	}
	if parent != "" {
		pt, err := g.line(ctx, "rev-parse", parent+"^{tree}")
		if err != nil {
			return Version{}, false, err
		}
		if pt == tree {
			v, err := get(ctx, g, parent)
			return v, false, err
		}
	}
	id, err := commitTree(ctx, g, tree, parent, c)
	if err != nil {
		return Version{}, false, err
	}
	v, err := get(ctx, g, id)
	return v, true, err
}

// tempPrefix marks the sandbox engine's half-written files.
const tempPrefix = ".qv-write-"

// Snapshot commits the sandbox's workspace as a new version, unless nothing
// changed since the latest one (created is then false and v is the latest).
// node_modules and .git are not versioned (the engine does not descend into
// them); files the engine will not read (too large, not regular) are left
// out and logged.
func (s *Service) Snapshot(ctx context.Context, projectID, sandboxID string, c Commit) (v Version, created bool, err error) {
	unlock := s.lock(projectID)
	defer unlock()
	g, err := s.repo(ctx, projectID, true)
	if err != nil {
		return Version{}, false, err
	}
	files, err := s.sandboxes.ListFiles(ctx, sandboxID, "")
	if err != nil {
		return Version{}, false, fmt.Errorf("list sandbox files: %w", err)
	}
	var es []entry
	for _, f := range files {
		if f.IsDir || !ValidPath(f.Path) || strings.HasPrefix(path.Base(f.Path), tempPrefix) {
			continue
		}
		data, err := s.sandboxes.ReadFile(ctx, sandboxID, f.Path)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return Version{}, false, ctx.Err()
		case errors.Is(err, sandbox.ErrNotFound), errors.Is(err, sandbox.ErrNotRunning):
			return Version{}, false, fmt.Errorf("read sandbox file %s: %w", f.Path, err)
		default:
			// The file vanished, is too big or is not a regular file.
			s.logger.Warn("file left out of the version", "project_id", projectID, "path", f.Path, "err", err)
			continue
		}
		sha, err := hashObject(ctx, g, data)
		if err != nil {
			return Version{}, false, err
		}
		es = append(es, entry{mode: fileMode, sha: sha, path: f.Path})
	}
	if len(es) == 0 {
		// An empty workspace with no history is not worth a version.
		if h, err := head(ctx, g); err != nil || h == "" {
			return Version{}, false, err
		}
	}
	return commitEntries(ctx, g, es, c)
}

// Edit makes a version that is the latest one with one file replaced.
func (s *Service) Edit(ctx context.Context, projectID, filePath string, data []byte, c Commit) (Version, error) {
	if !Versionable(filePath) {
		return Version{}, fmt.Errorf("path %q: %w", filePath, ErrBadPath)
	}
	unlock := s.lock(projectID)
	defer unlock()
	g, err := s.repo(ctx, projectID, true)
	if err != nil {
		return Version{}, err
	}
	var es []entry
	h, err := head(ctx, g)
	if err != nil {
		return Version{}, err
	}
	if h != "" {
		if es, err = treeEntries(ctx, g, h); err != nil {
			return Version{}, err
		}
	}
	sha, err := hashObject(ctx, g, data)
	if err != nil {
		return Version{}, err
	}
	out := es[:0]
	for _, e := range es {
		// A file replaces a directory of the same name and the other way round.
		if e.path != filePath && !strings.HasPrefix(e.path, filePath+"/") && !strings.HasPrefix(filePath, e.path+"/") {
			out = append(out, e)
		}
	}
	out = append(out, entry{mode: fileMode, sha: sha, path: filePath})
	v, _, err := commitEntries(ctx, g, out, c)
	return v, err
}

// Restore makes version v current: the sandbox (if sandboxID is not "")
// gets exactly v's files, and a new version with v's tree is recorded on
// top of the history, which is never rewritten. Restoring the latest
// version changes nothing and returns it.
func (s *Service) Restore(ctx context.Context, projectID, v, sandboxID string, c Commit) (Version, error) {
	unlock := s.lock(projectID)
	defer unlock()
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return Version{}, notFound(err)
	}
	id, err := resolve(ctx, g, v)
	if err != nil {
		return Version{}, err
	}
	if sandboxID != "" {
		if err := s.sync(ctx, g, id, sandboxID); err != nil {
			return Version{}, err
		}
	}
	tree, err := g.line(ctx, "rev-parse", id+"^{tree}")
	if err != nil {
		return Version{}, err
	}
	res, _, err := commitTreeIfChanged(ctx, g, tree, c)
	return res, err
}

// Checkout writes the latest version's files into a sandbox, e.g. one made
// to replace a sandbox that was deleted. It returns ErrNoVersions when the
// project has none.
func (s *Service) Checkout(ctx context.Context, projectID, sandboxID string) (Version, error) {
	unlock := s.lock(projectID)
	defer unlock()
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return Version{}, err
	}
	h, err := head(ctx, g)
	if err != nil {
		return Version{}, err
	}
	if h == "" {
		return Version{}, ErrNoVersions
	}
	if err := s.sync(ctx, g, h, sandboxID); err != nil {
		return Version{}, err
	}
	return get(ctx, g, h)
}

// sync makes the sandbox's files those of commit id: every file of id is
// written, and files and directories outside it are deleted, except
// node_modules and .git, which are never versioned.
func (s *Service) sync(ctx context.Context, g git, id, sandboxID string) error {
	es, err := treeEntries(ctx, g, id)
	if err != nil {
		return err
	}
	// What may stay: v's files as files, their parents as directories.
	keepFile, keepDir := make(map[string]bool), make(map[string]bool)
	for _, e := range es {
		keepFile[e.path] = true
		for d := path.Dir(e.path); d != "."; d = path.Dir(d) {
			keepDir[d] = true
		}
	}
	files, err := s.sandboxes.ListFiles(ctx, sandboxID, "")
	if err != nil {
		return fmt.Errorf("list sandbox files: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var deleted []string
	for _, f := range files {
		if (f.IsDir && keepDir[f.Path]) || (!f.IsDir && keepFile[f.Path]) || unversioned(f.Path) || under(f.Path, deleted) {
			continue
		}
		if err := s.sandboxes.DeleteFile(ctx, sandboxID, f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete sandbox file %s: %w", f.Path, err)
		}
		deleted = append(deleted, f.Path)
	}
	for _, e := range es {
		data, err := g.run(ctx, cmdOpts{}, "cat-file", "blob", e.sha)
		if err != nil {
			return err
		}
		if err := s.sandboxes.WriteFile(ctx, sandboxID, e.path, data); err != nil {
			return fmt.Errorf("write sandbox file %s: %w", e.path, err)
		}
	}
	return nil
}

// Versionable reports whether a file at p can be part of a version: a valid
// path outside node_modules and .git.
func Versionable(p string) bool { return ValidPath(p) && !unversioned(p) }

// unversioned reports whether p is in a directory versions leave alone.
func unversioned(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return first == "node_modules" || first == ".git"
}

func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
