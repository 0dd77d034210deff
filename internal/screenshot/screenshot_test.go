package screenshot

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A page whose top-left pixel is known, to check the picture is of it.
const redPage = `<!doctype html><html><body style="margin:0;background:#ff0000"><h1>hi</h1></body></html>`

func TestThumbnailsCaptureThroughDialer(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		io.WriteString(w, redPage)
	}))
	defer srv.Close()
	var dialed []string
	dial := func(ctx context.Context, sandboxID string, port int) (net.Conn, error) {
		dialed = append(dialed, sandboxID)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}
	th, err := NewThumbnails(t.TempDir(), dial, newBrowser(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const project = "0190f3a6-1111-7000-8000-000000000001"
	if _, ok := th.ModTime(project); ok {
		t.Fatal("thumbnail exists before any capture")
	}
	if _, _, err := th.Open(project); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open before capture: err = %v, want not exist", err)
	}
	const version = "3f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	if err := th.Capture(t.Context(), project, version, "sbx1", 3000); err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if hits == 0 || len(dialed) == 0 || dialed[0] != "sbx1" {
		t.Fatalf("page hits %d, dials %v; want the page fetched through the sandbox dialer", hits, dialed)
	}
	f, _, err := th.Open(project)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != thumbWidth || b.Dy() != thumbHeight {
		t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), thumbWidth, thumbHeight)
	}
	if r, g, b, _ := img.At(thumbWidth-5, thumbHeight-5).RGBA(); r>>8 < 240 || g>>8 > 15 || b>>8 > 15 {
		t.Errorf("corner pixel = %d,%d,%d; want the page's red", r>>8, g>>8, b>>8)
	}
	if _, ok := th.ModTime(project); !ok {
		t.Error("ModTime after capture: none")
	}
	vf, _, err := th.OpenVersion(project, version)
	if err != nil {
		t.Fatalf("the version's thumbnail: %v", err)
	}
	vdata, err := io.ReadAll(vf)
	vf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vdata, data) {
		t.Error("the version's thumbnail differs from the project's latest")
	}
	if _, _, err := th.OpenVersion(project, "0000000000000000000000000000000000000000"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenVersion of another version: err = %v, want not exist", err)
	}
	if err := th.Delete(project); err != nil {
		t.Fatal(err)
	}
	if err := th.Delete(project); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, ok := th.ModTime(project); ok {
		t.Error("thumbnail still there after Delete")
	}
	if _, _, err := th.OpenVersion(project, version); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("version thumbnail after Delete: err = %v, want not exist", err)
	}
}

func TestThumbnailsRejectPathLikeIDs(t *testing.T) {
	th, err := NewThumbnails(t.TempDir(), nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "a/b", "..", "x.png"} {
		if err := th.Capture(t.Context(), id, "", "s", 1); err == nil {
			t.Errorf("Capture(%q) succeeded", id)
		}
		if err := th.Capture(t.Context(), "p1", id+"/", "s", 1); err == nil {
			t.Errorf("Capture of version %q succeeded", id+"/")
		}
		if _, _, err := th.OpenVersion("p1", id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenVersion(%q): err = %v, want not exist", id, err)
		}
		if _, _, err := th.Open(id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): err = %v, want not exist", id, err)
		}
		if err := th.Delete(id); err == nil {
			t.Errorf("Delete(%q) succeeded", id)
		}
	}
}

func TestScreenshotFailsClearlyOnUnreachablePage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	if _, err := newBrowser(t).Screenshot(t.Context(), "http://"+addr+"/", 320, 200); err == nil {
		t.Error("Screenshot of a closed port succeeded")
	}
}

func TestThumbnailsWithoutBrowser(t *testing.T) {
	th, err := NewThumbnails(t.TempDir(), nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := th.Capture(t.Context(), "p1", "", "s", 3000); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("Capture without a browser: err = %v, want ErrNoBrowser", err)
	}
}

// newBrowser is the host's Chromium, stopped when the test ends.
func newBrowser(t *testing.T) *Browser {
	t.Helper()
	path, err := FindBrowser()
	if err != nil {
		t.Fatal(err)
	}
	b := NewBrowser(path)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close browser: %v", err)
		}
	})
	return b
}
