package daytona

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Workspace files through the toolbox's /files endpoints. Paths are
// relative to the workspace and resolved to absolute paths under
// Daytona's work dir, so they do not depend on the daemon's cwd.

const (
	// MaxReadFile caps ReadFile, as on the local engine.
	MaxReadFile = 10 << 20
	// MaxListFiles caps ListFiles, as on the local engine.
	MaxListFiles = 5000
	// tempPrefix names WriteFile's temporary uploads; ListFiles hides them.
	tempPrefix = ".qv-write-"
)

// abs is the absolute path of a cleaned workspace path.
func (p *Provider) abs(b toolboxRef, rel string) string {
	return path.Join(b.workDir, p.workspace, rel)
}

type fileInfoDTO struct {
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	IsDir      bool   `json:"isDir"`
	ModifiedAt string `json:"modifiedAt"`
	ModTime    string `json:"modTime"`
}

func (f fileInfoDTO) modTime() time.Time {
	for _, s := range []string{f.ModifiedAt, f.ModTime} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// stat returns a workspace entry's info; a missing one wraps ErrNotFound.
func (p *Provider) stat(ctx context.Context, id, abs string) (fileInfoDTO, error) {
	var fi fileInfoDTO
	err := p.tbJSON(ctx, id, call{method: http.MethodGet, path: "/files/info", query: url.Values{"path": {abs}}}, nil, &fi)
	return fi, err
}

// ReadFile implements sandbox.Provider.
func (p *Provider) ReadFile(ctx context.Context, id, name string) ([]byte, error) {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return nil, err
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return nil, err
	}
	abs := p.abs(b, rel)
	c := call{method: http.MethodGet, path: "/files/download", query: url.Values{"path": {abs}}, limit: MaxReadFile + 1}
	_, data, err := p.tb(ctx, id, c)
	if err != nil {
		if errors.Is(err, sandbox.ErrNotFound) || errors.Is(err, sandbox.ErrNotRunning) {
			return nil, fmt.Errorf("read %q: %w", name, err)
		}
		// The daemon refuses a directory with a 400; say which it was.
		if fi, serr := p.stat(ctx, id, abs); serr == nil && fi.IsDir {
			return nil, fmt.Errorf("read %q: %w", name, sandbox.ErrIsDirectory)
		}
		return nil, fmt.Errorf("read %q: %w", name, err)
	}
	if len(data) > MaxReadFile {
		return nil, fmt.Errorf("read %q: %w", name, sandbox.ErrFileTooBig)
	}
	return data, nil
}

// WriteFile implements sandbox.Provider: upload to a temporary name in the
// same directory (bulk-upload creates the parents), then move it into
// place, so readers never see half a file.
func (p *Provider) WriteFile(ctx context.Context, id, name string, data []byte) error {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("write %q: %w", name, sandbox.ErrIsDirectory)
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return err
	}
	abs := p.abs(b, rel)
	fi, err := p.stat(ctx, id, abs)
	switch {
	case err == nil && fi.IsDir:
		return fmt.Errorf("write %q: %w", name, sandbox.ErrIsDirectory)
	case err != nil && !errors.Is(err, sandbox.ErrNotFound):
		return fmt.Errorf("write %q: %w", name, err)
	}
	tmp := path.Join(path.Dir(abs), tempPrefix+rand.Text())
	if err := p.upload(ctx, id, tmp, data); err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	move := call{method: http.MethodPost, path: "/files/move", query: url.Values{"source": {tmp}, "destination": {abs}}}
	if _, _, err := p.tb(ctx, id, move); err != nil {
		del := call{method: http.MethodDelete, path: "/files", query: url.Values{"path": {tmp}}}
		if _, _, derr := p.tb(context.WithoutCancel(ctx), id, del); derr != nil {
			p.log.Warn("remove temporary upload", "sandbox", id, "path", tmp, "err", derr)
		}
		return fmt.Errorf("write %q: move into place: %w", name, err)
	}
	return nil
}

// upload sends one file with bulk-upload, as Daytona's SDKs do; its path
// part must come before its file part.
func (p *Provider) upload(ctx context.Context, id, abs string, data []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("files[0].path", abs); err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	fw, err := mw.CreateFormFile("files[0].file", path.Base(abs))
	if err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	if _, err := fw.Write(data); err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	c := call{method: http.MethodPost, path: "/files/bulk-upload", body: body.Bytes(), ctype: mw.FormDataContentType()}
	if _, _, err := p.tb(ctx, id, c); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

// DeleteFile implements sandbox.Provider; directories go with their
// contents.
func (p *Provider) DeleteFile(ctx context.Context, id, name string) error {
	rel, err := sandbox.CleanPath(name)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("delete %q: refusing to delete the workspace root", name)
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return err
	}
	c := call{method: http.MethodDelete, path: "/files", query: url.Values{"path": {p.abs(b, rel)}, "recursive": {"true"}}}
	if _, _, err := p.tb(ctx, id, c); err != nil {
		return fmt.Errorf("delete %q: %w", name, err)
	}
	return nil
}

// ListFiles implements sandbox.Provider: one /files call per directory,
// depth first in name order like the local engine. node_modules and .git
// are listed but not descended into; at most MaxListFiles entries.
func (p *Provider) ListFiles(ctx context.Context, id, dir string) ([]sandbox.FileInfo, error) {
	rel, err := sandbox.CleanPath(dir)
	if err != nil {
		return nil, err
	}
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return nil, err
	}
	if rel != "." {
		fi, err := p.stat(ctx, id, p.abs(b, rel))
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", dir, err)
		}
		if !fi.IsDir {
			return nil, fmt.Errorf("list %q: not a directory", dir)
		}
	}
	files := []sandbox.FileInfo{}
	var walk func(rel string) error
	walk = func(rel string) error {
		var entries []fileInfoDTO
		c := call{method: http.MethodGet, path: "/files", query: url.Values{"path": {p.abs(b, rel)}}}
		if err := p.tbJSON(ctx, id, c, nil, &entries); err != nil {
			return err
		}
		slices.SortFunc(entries, func(a, b fileInfoDTO) int { return strings.Compare(a.Name, b.Name) })
		for _, e := range entries {
			if len(files) >= MaxListFiles {
				return nil
			}
			if e.Name == "" || strings.Contains(e.Name, "/") || e.Name == "." || e.Name == ".." || strings.HasPrefix(e.Name, tempPrefix) {
				continue
			}
			child := path.Join(rel, e.Name)
			files = append(files, sandbox.FileInfo{Path: child, Size: e.Size, IsDir: e.IsDir, ModTime: e.modTime()})
			if e.IsDir && !sandbox.SkipListing(e.Name) {
				if err := walk(child); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
					return err // a directory that vanished meanwhile is skipped
				}
			}
		}
		return nil
	}
	if err := walk(rel); err != nil {
		return nil, fmt.Errorf("list %q: %w", dir, err)
	}
	return files, nil
}
