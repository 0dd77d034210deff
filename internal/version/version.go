// Package version keeps every state of a project as a git commit in a bare
// repository owned by the server (<data dir>/projects/<id>/repo.git), never
// inside the sandbox. Commits are built with git plumbing from what the
// sandbox engine returns (sandbox.Provider's ListFiles and ReadFile), so it
// works for any engine and never follows a path the sandbox controls.
// History is append-only: restoring makes a new version.
package version

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Domain errors.
var (
	ErrNotFound   = errors.New("version: not found")
	ErrNoVersions = errors.New("version: the project has no versions yet")
	ErrBadPath    = errors.New("version: invalid file path")
)

// Kinds of version, recorded in the commit.
const (
	KindRun     = "run"
	KindEdit    = "edit"
	KindRestore = "restore"
	KindImport  = "import"
)

const (
	branch      = "refs/heads/main"
	zeroID      = "0000000000000000000000000000000000000000"
	trailerRun  = "QuickVibe-Run"
	trailerKind = "QuickVibe-Kind"
	// fileMode is the mode of every file: engines report no executable bit.
	fileMode = "100644"
)

// Commit says what a new version records besides its files.
type Commit struct {
	Message     string
	Kind        string
	RunID       string
	AuthorName  string
	AuthorEmail string
	Time        time.Time
}

// Version is one commit of a project.
type Version struct {
	ID          string
	ParentID    string
	Message     string
	Kind        string
	RunID       string
	AuthorName  string
	AuthorEmail string
	Time        time.Time
}

// File is one file of a version.
type File struct {
	Path string
	Size int64
}

// Config sets up a Service.
type Config struct {
	// Dir holds one directory per project (the server's data dir/projects).
	Dir       string
	Sandboxes sandbox.Provider
	Logger    *slog.Logger
	// ImportLimits bound imports; zero means the defaults.
	ImportLimits Limits
}

// Service keeps the versions of every project.
type Service struct {
	dir       string
	home      string
	sandboxes sandbox.Provider
	logger    *slog.Logger
	limits    Limits

	mu    sync.Mutex
	locks map[string]*sync.Mutex // project id → its commit lock
}

// New prepares the versions directory and checks that git is installed.
func New(cfg Config) (*Service, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("versions need the git binary (apt-get install git): %w", err)
	}
	home := filepath.Join(cfg.Dir, ".git-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create versions dir: %w", err)
	}
	return &Service{
		dir: cfg.Dir, home: home, sandboxes: cfg.Sandboxes, logger: cfg.Logger,
		limits: cfg.ImportLimits.withDefaults(), locks: make(map[string]*sync.Mutex),
	}, nil
}

// lock serialises writes to one project's repository.
func (s *Service) lock(projectID string) func() {
	s.mu.Lock()
	l, ok := s.locks[projectID]
	if !ok {
		l = new(sync.Mutex)
		s.locks[projectID] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Compiled on first use: this binary is also every sandbox's toolbox,
// which never needs it.
var projectIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`) })

func (s *Service) projectDir(projectID string) (string, error) {
	if !projectIDPattern().MatchString(projectID) {
		return "", fmt.Errorf("project id %q: %w", projectID, ErrNotFound)
	}
	return filepath.Join(s.dir, projectID), nil
}

// repo opens the project's repository; with create it is made if missing,
// otherwise a missing one is ErrNoVersions.
func (s *Service) repo(ctx context.Context, projectID string, create bool) (git, error) {
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return git{}, err
	}
	g := git{dir: filepath.Join(pdir, "repo.git"), home: s.home}
	if _, err := os.Stat(filepath.Join(g.dir, "HEAD")); err == nil {
		return g, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return git{}, err
	}
	if !create {
		return git{}, ErrNoVersions
	}
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return git{}, fmt.Errorf("create repository: %w", err)
	}
	if _, err := g.run(ctx, cmdOpts{}, "init", "--bare", "--quiet", "--initial-branch=main"); err != nil {
		return git{}, err
	}
	// Objects and refs reach the disk before update-ref returns, so a crash
	// (or power loss) right after a commit keeps it.
	for _, kv := range [][2]string{{"core.fsync", "committed"}, {"core.fsyncMethod", "fsync"}, {"gc.autoDetach", "false"}} {
		if _, err := g.run(ctx, cmdOpts{}, "config", kv[0], kv[1]); err != nil {
			return git{}, err
		}
	}
	return g, nil
}

// head is the latest version's id, or "" if there is none.
func head(ctx context.Context, g git) (string, error) {
	out, err := g.run(ctx, cmdOpts{}, "rev-parse", "--verify", "--quiet", branch+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Compiled on first use: this binary is also every sandbox's toolbox,
// which never needs it.
var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{4,64}$`) })

// resolve turns a version id (full or abbreviated) into a commit id on the
// project's history.
func resolve(ctx context.Context, g git, v string) (string, error) {
	if !idPattern().MatchString(v) {
		return "", fmt.Errorf("version %q: %w", v, ErrNotFound)
	}
	out, err := g.run(ctx, cmdOpts{}, "rev-parse", "--verify", "--quiet", "--end-of-options", v+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 || exitCode(err) == 128 {
			return "", fmt.Errorf("version %q: %w", v, ErrNotFound)
		}
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if _, err := g.run(ctx, cmdOpts{}, "merge-base", "--is-ancestor", id, branch); err != nil {
		if exitCode(err) == 1 {
			return "", fmt.Errorf("version %q is not on the project's history: %w", v, ErrNotFound)
		}
		return "", err
	}
	return id, nil
}

// ValidPath reports whether p may name a file of a version: relative,
// slash-separated, no empty, "." or ".." elements, nothing under .git.
func ValidPath(p string) bool {
	if p == "" || len(p) > 1024 || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.EqualFold(elem, ".git") {
			return false
		}
	}
	return true
}

const (
	fieldSep  = "\x1f"
	logFormat = "%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B"
)

// List returns the project's versions, newest first.
func (s *Service) List(ctx context.Context, projectID string) ([]Version, error) {
	g, err := s.repo(ctx, projectID, false)
	if errors.Is(err, ErrNoVersions) {
		return []Version{}, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := head(ctx, g)
	if err != nil || h == "" {
		return []Version{}, err
	}
	out, err := g.run(ctx, cmdOpts{}, "log", "-z", "--format="+logFormat, branch)
	if err != nil {
		return nil, err
	}
	var vs []Version
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		v, err := parseVersion(rec)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// Get returns one version.
func (s *Service) Get(ctx context.Context, projectID, v string) (Version, error) {
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return Version{}, notFound(err)
	}
	id, err := resolve(ctx, g, v)
	if err != nil {
		return Version{}, err
	}
	return get(ctx, g, id)
}

// Latest returns the newest version, or ErrNoVersions.
func (s *Service) Latest(ctx context.Context, projectID string) (Version, error) {
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
	return get(ctx, g, h)
}

func notFound(err error) error {
	if errors.Is(err, ErrNoVersions) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

func get(ctx context.Context, g git, id string) (Version, error) {
	out, err := g.run(ctx, cmdOpts{}, "log", "-z", "-1", "--format="+logFormat, id)
	if err != nil {
		return Version{}, err
	}
	return parseVersion(strings.TrimSuffix(string(out), "\x00"))
}

func parseVersion(rec string) (Version, error) {
	f := strings.SplitN(rec, fieldSep, 6)
	if len(f) != 6 {
		return Version{}, fmt.Errorf("parse git log record %q", rec)
	}
	sec, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return Version{}, fmt.Errorf("parse commit time %q: %w", f[4], err)
	}
	v := Version{ID: f[0], AuthorName: f[2], AuthorEmail: f[3], Time: time.Unix(sec, 0).UTC()}
	if parents := strings.Fields(f[1]); len(parents) > 0 {
		v.ParentID = parents[0]
	}
	v.Message, v.RunID, v.Kind = splitTrailers(f[5])
	return v, nil
}

// splitTrailers separates QuickVibe's trailers from a commit message.
func splitTrailers(body string) (msg, runID, kind string) {
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	end := len(lines)
	for end > 0 {
		k, val, ok := strings.Cut(lines[end-1], ": ")
		switch {
		case ok && k == trailerRun:
			runID = val
		case ok && k == trailerKind:
			kind = val
		default:
			return strings.TrimRight(strings.Join(lines[:end], "\n"), "\n"), runID, kind
		}
		end--
	}
	return "", runID, kind
}

// Files lists a version's files; v "" is the latest version.
func (s *Service) Files(ctx context.Context, projectID, v string) ([]File, error) {
	id, g, err := s.resolveOrLatest(ctx, projectID, v)
	if err != nil {
		return nil, err
	}
	entries, err := treeEntries(ctx, g, id)
	if err != nil {
		return nil, err
	}
	out := make([]File, 0, len(entries))
	for _, e := range entries {
		out = append(out, File{Path: e.path, Size: e.size})
	}
	return out, nil
}

// ReadFile returns one file of a version; v "" is the latest version.
func (s *Service) ReadFile(ctx context.Context, projectID, v, path string) ([]byte, error) {
	if !ValidPath(path) {
		return nil, fmt.Errorf("path %q: %w", path, ErrBadPath)
	}
	id, g, err := s.resolveOrLatest(ctx, projectID, v)
	if err != nil {
		return nil, err
	}
	entries, err := treeEntries(ctx, g, id)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.path == path {
			return g.run(ctx, cmdOpts{}, "cat-file", "blob", e.sha)
		}
	}
	return nil, fmt.Errorf("file %q in version %s: %w", path, id, ErrNotFound)
}

// Diff is a version's change against its parent.
type Diff struct {
	VersionID string
	ParentID  string
	Files     []FileDiff
	// Patch is the unified diff.
	Patch string
}

// FileDiff counts one file's changed lines; binary files count -1.
type FileDiff struct {
	Path    string
	Added   int
	Removed int
}

// Diff returns the unified diff of version v against its parent (against
// nothing for the first version).
func (s *Service) Diff(ctx context.Context, projectID, v string) (Diff, error) {
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return Diff{}, notFound(err)
	}
	id, err := resolve(ctx, g, v)
	if err != nil {
		return Diff{}, err
	}
	ver, err := get(ctx, g, id)
	if err != nil {
		return Diff{}, err
	}
	common := []string{"diff-tree", "-r", "--root", "--no-commit-id", "--no-renames", "--no-ext-diff", "--no-textconv", "--no-color"}
	patch, err := g.run(ctx, cmdOpts{}, append(common, "-p", id)...)
	if err != nil {
		return Diff{}, err
	}
	stat, err := g.run(ctx, cmdOpts{}, append(common, "--numstat", "-z", id)...)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{VersionID: id, ParentID: ver.ParentID, Patch: string(patch), Files: []FileDiff{}}
	// -z numstat: "added\tremoved\tpath\0" per file.
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(stat), "\x00"), "\x00") {
		f := strings.SplitN(rec, "\t", 3)
		if len(f) != 3 {
			continue // the empty output of a change-less version
		}
		fd := FileDiff{Path: f[2], Added: -1, Removed: -1}
		if n, err := strconv.Atoi(f[0]); err == nil {
			fd.Added = n
		}
		if n, err := strconv.Atoi(f[1]); err == nil {
			fd.Removed = n
		}
		d.Files = append(d.Files, fd)
	}
	return d, nil
}
