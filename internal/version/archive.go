package version

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Import limits. Archives come from users and may be hostile.
const (
	MaxImportSize  = 50 << 20  // the uploaded file
	MaxImportFiles = 5000      // files in the archive
	MaxImportBytes = 200 << 20 // all files, uncompressed
	MaxImportFile  = 10 << 20  // one file, uncompressed
	MaxPathLength  = 512
)

// Limits bound what an import may unpack; zero fields take the defaults
// above.
type Limits struct {
	Files int   // files in the archive
	Bytes int64 // all files, uncompressed
	File  int64 // one file, uncompressed
}

func (l Limits) withDefaults() Limits {
	if l.Files <= 0 {
		l.Files = MaxImportFiles
	}
	if l.Bytes <= 0 {
		l.Bytes = MaxImportBytes
	}
	if l.File <= 0 {
		l.File = MaxImportFile
	}
	return l
}

// UnsafeError is an archive or bundle refused, with why, fit for users.
type UnsafeError struct{ Msg string }

func (e *UnsafeError) Error() string { return e.Msg }

func unsafe(format string, args ...any) error { return &UnsafeError{Msg: fmt.Sprintf(format, args...)} }

// ExportZip writes version v (the latest if v is "") as a zip archive.
func (s *Service) ExportZip(ctx context.Context, projectID, v string, w io.Writer) error {
	id, g, err := s.resolveOrLatest(ctx, projectID, v)
	if err != nil {
		return err
	}
	_, err = g.run(ctx, cmdOpts{stdout: w}, "archive", "--format=zip", id)
	return err
}

// ResolveOrLatest checks that v (or, if v is "", the latest version) exists
// and returns its full id, so a handler can answer 404 before streaming.
func (s *Service) ResolveOrLatest(ctx context.Context, projectID, v string) (string, error) {
	id, _, err := s.resolveOrLatest(ctx, projectID, v)
	return id, err
}

func (s *Service) resolveOrLatest(ctx context.Context, projectID, v string) (string, git, error) {
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return "", git{}, notFound(err)
	}
	if v == "" {
		h, err := head(ctx, g)
		if err != nil {
			return "", git{}, err
		}
		if h == "" {
			return "", git{}, fmt.Errorf("%w: %w", ErrNotFound, ErrNoVersions)
		}
		return h, g, nil
	}
	id, err := resolve(ctx, g, v)
	return id, g, err
}

// ExportBundle writes the project's whole history as a git bundle, which
// `git clone` reads.
func (s *Service) ExportBundle(ctx context.Context, projectID string, w io.Writer) error {
	if _, err := s.ResolveOrLatest(ctx, projectID, ""); err != nil {
		return err
	}
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return err
	}
	_, err = g.run(ctx, cmdOpts{stdout: w}, "bundle", "create", "--quiet", "-", branch)
	return err
}

// Import makes the history of a new project from an uploaded zip archive
// or git bundle. On any error nothing is left behind; refusals are
// *UnsafeError saying why.
func (s *Service) Import(ctx context.Context, projectID string, r io.Reader, c Commit) (_ Version, err error) {
	unlock := s.lock(projectID)
	defer unlock()
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return Version{}, err
	}
	if _, err := os.Stat(pdir); err == nil {
		return Version{}, fmt.Errorf("import into project %s: it already has a repository", projectID)
	}
	defer func() {
		if err != nil {
			if rerr := os.RemoveAll(pdir); rerr != nil {
				s.logger.Error("remove failed import", "project_id", projectID, "err", rerr)
			}
		}
	}()
	g, err := s.repo(ctx, projectID, true)
	if err != nil {
		return Version{}, err
	}
	upload, err := os.CreateTemp(pdir, "upload-")
	if err != nil {
		return Version{}, err
	}
	defer os.Remove(upload.Name())
	defer upload.Close()
	n, err := io.Copy(upload, io.LimitReader(r, MaxImportSize+1))
	if err != nil {
		return Version{}, fmt.Errorf("receive upload: %w", err)
	}
	if n > MaxImportSize {
		return Version{}, unsafe("the file is larger than %d MiB", MaxImportSize>>20)
	}
	magic := make([]byte, 16)
	m, _ := upload.ReadAt(magic, 0)
	magic = magic[:m]
	switch {
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")), bytes.HasPrefix(magic, []byte("PK\x05\x06")):
		es, err := s.readZip(ctx, g, upload, n)
		if err != nil {
			return Version{}, err
		}
		v, _, err := commitEntries(ctx, g, es, c)
		return v, err
	case bytes.HasPrefix(magic, []byte("# v2 git bundle\n")), bytes.HasPrefix(magic, []byte("# v3 git bundle\n")):
		if err := fetchBundle(ctx, g, upload.Name(), s.limits); err != nil {
			return Version{}, err
		}
		h, err := head(ctx, g)
		if err != nil {
			return Version{}, err
		}
		return get(ctx, g, h)
	default:
		return Version{}, unsafe("the file is neither a zip archive nor a git bundle")
	}
}

// readZip stores each file of a zip archive as a blob. Sizes in the
// archive's headers are not trusted: bytes are counted as they inflate.
func (s *Service) readZip(ctx context.Context, g git, f io.ReaderAt, size int64) ([]entry, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, unsafe("the zip archive cannot be read: %v", err)
	}
	if len(zr.File) > s.limits.Files {
		return nil, unsafe("the archive holds %d entries; at most %d files are allowed", len(zr.File), s.limits.Files)
	}
	var names []string
	for _, zf := range zr.File {
		name := zf.Name
		mode := zf.Mode()
		switch {
		case len(name) > MaxPathLength:
			return nil, unsafe("the path %.60q… is longer than %d bytes", name, MaxPathLength)
		case strings.ContainsRune(name, '\\'):
			return nil, unsafe("the path %q contains a backslash", name)
		case strings.HasPrefix(name, "/") || (len(name) > 1 && name[1] == ':'):
			return nil, unsafe("the path %q is absolute", name)
		case hasDotDot(name):
			return nil, unsafe("the path %q leads outside the project (..)", name)
		case mode&fs.ModeSymlink != 0:
			return nil, unsafe("%q is a symbolic link; archives may hold only files and directories", name)
		case mode.IsDir() || strings.HasSuffix(name, "/"):
			continue
		case !mode.IsRegular():
			return nil, unsafe("%q is not a regular file (%s)", name, mode.Type())
		}
		names = append(names, strings.TrimPrefix(path.Clean(name), "./"))
	}
	prefix := commonDir(names)

	var (
		es    []entry
		total int64
		seen  = make(map[string]bool)
	)
	i := 0
	for _, zf := range zr.File {
		if zf.Mode().IsDir() || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		p := strings.TrimPrefix(names[i], prefix)
		i++
		if first, _, _ := strings.Cut(p, "/"); unversioned(p) || first == "__MACOSX" {
			s.logger.Info("import: left out", "path", p)
			continue
		}
		if !ValidPath(p) {
			return nil, unsafe("the path %q is not allowed", zf.Name)
		}
		if seen[p] {
			return nil, unsafe("the archive holds %q twice", p)
		}
		seen[p] = true
		if zf.UncompressedSize64 > uint64(s.limits.File) {
			return nil, unsafe("%q is larger than %d MiB", p, s.limits.File>>20)
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, unsafe("%q cannot be read from the archive: %v", p, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, s.limits.File+1))
		rc.Close()
		if err != nil {
			return nil, unsafe("%q cannot be read from the archive: %v", p, err)
		}
		if int64(len(data)) > s.limits.File {
			return nil, unsafe("%q expands to more than %d MiB (a zip bomb?)", p, s.limits.File>>20)
		}
		total += int64(len(data))
		if total > s.limits.Bytes {
			return nil, unsafe("the archive expands to more than %d MiB (a zip bomb?)", s.limits.Bytes>>20)
		}
		sha, err := hashObject(ctx, g, data)
		if err != nil {
			return nil, err
		}
		es = append(es, entry{mode: fileMode, sha: sha, path: p})
	}
	if len(es) == 0 {
		return nil, unsafe("the archive holds no files")
	}
	// A file and a directory of the same name cannot both exist.
	for _, e := range es {
		for d := path.Dir(e.path); d != "."; d = path.Dir(d) {
			if seen[d] {
				return nil, unsafe("%q is both a file and a directory", d)
			}
		}
	}
	return es, nil
}

func hasDotDot(name string) bool {
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return true
		}
	}
	return false
}

// commonDir is "dir/" when every path is under the one top-level
// directory dir (as in archives GitHub makes), else "".
func commonDir(names []string) string {
	if len(names) == 0 {
		return ""
	}
	first, _, ok := strings.Cut(names[0], "/")
	if !ok || unversioned(names[0]) || first == "__MACOSX" {
		return ""
	}
	for _, n := range names[1:] {
		if d, _, ok := strings.Cut(n, "/"); !ok || d != first {
			return ""
		}
	}
	return first + "/"
}

// fetchBundle brings a bundle's main history into refs/heads/main,
// checking every object (git's fsck refuses "..", ".git" and other
// dangerous tree entries), then checks the files against the limits.
func fetchBundle(ctx context.Context, g git, file string, lim Limits) error {
	out, err := g.run(ctx, cmdOpts{}, "bundle", "list-heads", file)
	if err != nil {
		return unsafe("the git bundle cannot be read (it must hold the full history, not only recent commits)")
	}
	heads := make(map[string]bool)
	var firstBranch string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		_, ref, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		heads[ref] = true
		if firstBranch == "" && strings.HasPrefix(ref, "refs/heads/") {
			firstBranch = ref
		}
	}
	ref := firstBranch
	for _, want := range []string{"refs/heads/master", "refs/heads/main", "HEAD"} {
		if heads[want] {
			ref = want
		}
	}
	if ref == "" {
		return unsafe("the git bundle holds no branch")
	}
	fsck := []string{"-c", "fetch.fsckObjects=true", "-c", "transfer.fsckObjects=true"}
	if _, err := g.run(ctx, cmdOpts{}, append(fsck,
		"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", file, "+"+ref+":"+branch)...); err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return unsafe("the git bundle was refused: %s", firstLine(ge.Stderr))
		}
		return err
	}
	// fetch does not check objects that come from a bundle: fsck does,
	// over the whole history, so no version can hold such a path.
	check := []string{}
	for _, id := range []string{"hasDot", "hasDotdot", "hasDotgit", "emptyName", "fullPathname", "badFilemode"} {
		check = append(check, "-c", "fsck."+id+"=error")
	}
	if _, err := g.run(ctx, cmdOpts{}, append(check, "fsck", "--no-dangling", "--no-progress")...); err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return unsafe("the git bundle was refused: %s", firstLine(ge.Stderr))
		}
		return err
	}
	es, err := treeEntries(ctx, g, branch)
	if err != nil {
		return err
	}
	if len(es) > lim.Files {
		return unsafe("the bundle's latest version holds %d files; at most %d are allowed", len(es), lim.Files)
	}
	var total int64
	for _, e := range es {
		switch {
		case len(e.path) > MaxPathLength || !ValidPath(e.path):
			return unsafe("the path %.80q is not allowed", e.path)
		case e.size > lim.File:
			return unsafe("%q is larger than %d MiB", e.path, lim.File>>20)
		}
		total += e.size
	}
	if total > lim.Bytes {
		return unsafe("the bundle's files add up to more than %d MiB", lim.Bytes>>20)
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Remove deletes a project's repository, e.g. after its import failed to be
// recorded.
func (s *Service) Remove(projectID string) error {
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return err
	}
	unlock := s.lock(projectID)
	defer unlock()
	return os.RemoveAll(pdir)
}
