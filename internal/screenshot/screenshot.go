// Package screenshot takes pictures of web pages with headless Chromium and
// keeps a thumbnail per version and the latest per project, shown on the
// dashboard.
package screenshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser means no Chromium binary was found on PATH.
var ErrNoBrowser = errors.New("screenshot: no chromium or google-chrome on PATH (install the Debian package chromium)")

// FindBrowser returns the path of a Chromium-compatible browser.
func FindBrowser() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// AllocatorOptions are the flags QuickVibe starts headless Chromium with: no
// sandbox (it runs as root in containers and CI), no GPU, and nothing that
// phones home. userDataDir must be fresh for each browser process.
func AllocatorOptions(browser, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.UserDataDir(userDataDir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
}

// Screenshot loads url in a new tab with a width×height viewport and
// returns a PNG of the viewport.
func (b *Browser) Screenshot(ctx context.Context, url string, width, height int) ([]byte, error) {
	tabCtx, closeTab, err := b.Tab(ctx)
	if err != nil {
		return nil, err
	}
	defer closeTab()
	var png []byte
	err = chromedp.Run(tabCtx,
		chromedp.EmulateViewport(int64(width), int64(height)),
		chromedp.Navigate(url),
		chromedp.WaitReady("body", chromedp.ByQuery),
		chromedp.CaptureScreenshot(&png),
	)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("screenshot %s: %w", url, err)
	}
	return png, nil
}

// removeProfile deletes a browser profile. Chromium's helper processes may
// still write into it for a moment after the browser is stopped, so a
// failed removal is retried briefly.
func removeProfile(dir string) error {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove browser profile: %w", err)
}
