package screenshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Thumbnail size: a 16:10 desktop viewport, shown scaled down on cards.
const (
	thumbWidth  = 1280
	thumbHeight = 800
)

// DialFunc connects to a port inside a sandbox.
type DialFunc func(ctx context.Context, sandboxID string, port int) (net.Conn, error)

// Thumbnails keeps the preview screenshot of each version as
// {dir}/{projectID}/{versionID}.png and the latest one, shown on the
// project's card, as {dir}/{projectID}.png.
type Thumbnails struct {
	dir     string
	dial    DialFunc
	browser *Browser
	logger  *slog.Logger
}

// NewThumbnails stores thumbnails in dir, reaching sandbox ports with dial
// and taking pictures with browser; a nil browser (none installed) makes
// Capture fail with ErrNoBrowser.
func NewThumbnails(dir string, dial DialFunc, browser *Browser, logger *slog.Logger) (*Thumbnails, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create thumbnail dir: %w", err)
	}
	return &Thumbnails{dir: dir, dial: dial, browser: browser, logger: logger}, nil
}

// Project ids are UUIDs; anything else never becomes a file name.
// Compiled on first use: this binary is also every sandbox's toolbox,
// which never needs it.
var validID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`) })

func (t *Thumbnails) path(projectID string) (string, error) {
	if !validID().MatchString(projectID) {
		return "", fmt.Errorf("screenshot: invalid project id %q", projectID)
	}
	return filepath.Join(t.dir, projectID+".png"), nil
}

func (t *Thumbnails) versionPath(projectID, versionID string) (string, error) {
	if !validID().MatchString(projectID) {
		return "", fmt.Errorf("screenshot: invalid project id %q", projectID)
	}
	if !validID().MatchString(versionID) {
		return "", fmt.Errorf("screenshot: invalid version id %q", versionID)
	}
	return filepath.Join(t.dir, projectID, versionID+".png"), nil
}

// Capture screenshots the app on a sandbox port and stores it as the
// project's thumbnail and, unless versionID is empty (no version was
// recorded), as that version's. Chromium reaches the port through a
// loopback proxy that dials the sandbox directly, so it needs neither the
// preview domain nor a preview login.
func (t *Thumbnails) Capture(ctx context.Context, projectID, versionID, sandboxID string, port int) error {
	dst, err := t.path(projectID)
	if err != nil {
		return err
	}
	var versionDst string
	if versionID != "" {
		if versionDst, err = t.versionPath(projectID, versionID); err != nil {
			return err
		}
	}
	if t.browser == nil {
		return ErrNoBrowser
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("screenshot proxy: %w", err)
	}
	target := &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", port)}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return t.dial(ctx, sandboxID, port)
		},
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Close() // closes the listener; Serve then returns ErrServerClosed
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.logger.Warn("screenshot proxy", "err", err)
		}
	}()

	png, err := t.browser.Screenshot(ctx, "http://"+ln.Addr().String()+"/", thumbWidth, thumbHeight)
	if err != nil {
		return err
	}
	if versionDst != "" {
		if err := os.MkdirAll(filepath.Dir(versionDst), 0o750); err != nil {
			return fmt.Errorf("save thumbnail: %w", err)
		}
		if err := writeAtomic(versionDst, png); err != nil {
			return err
		}
	}
	return writeAtomic(dst, png)
}

// writeAtomic writes then renames, so a reader never sees half a file.
func writeAtomic(dst string, data []byte) error {
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("save thumbnail: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("save thumbnail: %w", err)
	}
	return nil
}

// Open returns the project's thumbnail file and its modification time, or
// an error wrapping fs.ErrNotExist if there is none yet.
func (t *Thumbnails) Open(projectID string) (*os.File, time.Time, error) {
	p, err := t.path(projectID)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return openFile(p)
}

// OpenVersion returns the thumbnail taken after the run that recorded a
// version, or an error wrapping fs.ErrNotExist if there is none (the
// version came from an edit or import, or predates per-version thumbnails).
func (t *Thumbnails) OpenVersion(projectID, versionID string) (*os.File, time.Time, error) {
	p, err := t.versionPath(projectID, versionID)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return openFile(p)
}

func openFile(p string) (*os.File, time.Time, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, st.ModTime(), nil
}

// ModTime reports when the project's thumbnail was taken; ok is false if
// there is none.
func (t *Thumbnails) ModTime(projectID string) (time.Time, bool) {
	p, err := t.path(projectID)
	if err != nil {
		return time.Time{}, false
	}
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}

// Delete removes the project's thumbnails, if any.
func (t *Thumbnails) Delete(projectID string) error {
	p, err := t.path(projectID)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(filepath.Join(t.dir, projectID))
}
