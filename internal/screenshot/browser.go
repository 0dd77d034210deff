package screenshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// ErrBrowserClosed means Tab was called after Close.
var ErrBrowserClosed = errors.New("screenshot: the browser was closed")

// Browser is one headless Chromium shared by everything in a server that
// loads pages (thumbnails, the run's page check). It starts at the first Tab
// call, not before, so a server that never loads a page never pays for it;
// it starts again if it crashed; Close stops it.
type Browser struct {
	path string

	mu     sync.Mutex
	closed bool
	cur    *instance
	// starts tracks the goroutines that start browsers, so Close can wait
	// for one that is still starting.
	starts sync.WaitGroup
}

// instance is one Chromium process.
type instance struct {
	// ctx is the browser's first chromedp context: tabs are made from it,
	// and it ends when the browser stops or dies.
	ctx     context.Context
	stop    context.CancelFunc
	profile string
	ready   chan struct{} // closed once err is set
	err     error
}

// NewBrowser returns a browser that runs the Chromium binary at path
// (FindBrowser finds one). Nothing starts until the first Tab.
func NewBrowser(path string) *Browser {
	return &Browser{path: path}
}

// Ready starts the browser if it is not running and waits until it runs or
// ctx ends. A start that ctx cut short goes on in the background, for the
// next caller.
func (b *Browser) Ready(ctx context.Context) error {
	_, err := b.ready(ctx)
	return err
}

func (b *Browser) ready(ctx context.Context) (*instance, error) {
	inst, err := b.instance()
	if err != nil {
		return nil, err
	}
	select {
	case <-inst.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for chromium to start: %w", ctx.Err())
	}
	if inst.err != nil {
		return nil, errors.Join(inst.err, b.forget(inst))
	}
	return inst, nil
}

// Tab opens a new tab with its own cookies and storage, so pages loaded by
// different callers cannot see each other's state. Run chromedp actions on
// the returned context; they stop when ctx ends. closeTab closes the tab and
// must be called.
func (b *Browser) Tab(ctx context.Context) (tabCtx context.Context, closeTab func(), err error) {
	inst, err := b.ready(ctx)
	if err != nil {
		return nil, nil, err
	}
	// A browser context of its own is like a private window: no cookies or
	// storage shared with other tabs. Its tab gets a window of its own,
	// since a new browser context has none to open a tab in.
	browser := cdp.WithExecutor(ctx, chromedp.FromContext(inst.ctx).Browser)
	browserContextID, err := target.CreateBrowserContext().Do(browser)
	if err != nil {
		return nil, nil, fmt.Errorf("new browser context: %w", err)
	}
	dispose := func() {
		// ctx may have ended; the browser still needs telling.
		disposeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = target.DisposeBrowserContext(browserContextID).Do(cdp.WithExecutor(disposeCtx, chromedp.FromContext(inst.ctx).Browser))
	}
	targetID, err := target.CreateTarget("about:blank").WithBrowserContextID(browserContextID).WithNewWindow(true).Do(browser)
	if err != nil {
		dispose()
		return nil, nil, fmt.Errorf("new tab: %w", err)
	}
	tabCtx, cancelTab := chromedp.NewContext(inst.ctx, chromedp.WithTargetID(targetID))
	// The tab is made from the browser's context, which outlives ctx; ctx
	// still bounds what runs in it.
	stopAfter := context.AfterFunc(ctx, cancelTab)
	return tabCtx, func() {
		stopAfter()
		cancelTab() // closes the tab
		dispose()
	}, nil
}

// instance returns the running browser, or starts one.
func (b *Browser) instance() (*instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrowserClosed
	}
	if b.cur != nil && b.cur.alive() {
		return b.cur, nil
	}
	if dead := b.cur; dead != nil {
		// It crashed: stop what is left of it; the next call starts another.
		b.cur = nil
		if err := dead.close(); err != nil {
			return nil, fmt.Errorf("clean up after chromium crashed: %w", err)
		}
	}
	profile, err := os.MkdirTemp("", "quickvibe-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser profile: %w", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), AllocatorOptions(b.path, profile)...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	inst := &instance{
		ctx: browserCtx,
		stop: func() {
			cancelBrowser() // waits for the process to exit
			cancelAlloc()
		},
		profile: profile,
		ready:   make(chan struct{}),
	}
	b.starts.Go(func() {
		// The first Run on the browser's own context starts the process;
		// a shorter-lived context here would kill it when it ended.
		if err := chromedp.Run(browserCtx); err != nil {
			inst.err = fmt.Errorf("start chromium %s: %w", b.path, err)
		}
		close(inst.ready)
	})
	b.cur = inst
	return inst, nil
}

// alive reports whether the browser is starting or running.
func (inst *instance) alive() bool {
	select {
	case <-inst.ready:
		return inst.err == nil && inst.ctx.Err() == nil
	default:
		return true
	}
}

// close stops the browser and removes its profile.
func (inst *instance) close() error {
	inst.stop()
	return removeProfile(inst.profile)
}

// forget drops a browser that failed to start, so the next Tab tries again.
func (b *Browser) forget(inst *instance) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != inst {
		return nil // another caller forgot it already
	}
	b.cur = nil
	return inst.close()
}

// Close stops the browser, if it runs, and waits for it to exit. Tabs still
// open end with it.
func (b *Browser) Close() error {
	b.mu.Lock()
	b.closed = true
	inst := b.cur
	b.cur = nil
	b.mu.Unlock()
	if inst == nil {
		return nil
	}
	inst.stop()
	b.starts.Wait()
	return removeProfile(inst.profile)
}
