package bwrap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Warm pool. Starting a sandbox costs two Go runtime start-ups and a
// bubblewrap set-up (see bench_test.go for the numbers), which no tuning of
// ours removes. With Config.WarmPool > 0 the engine keeps that many
// sandboxes launched ahead of time, with an empty workspace and nothing
// running but the toolbox, and Create hands one out: it only writes the
// caller's labels. The pool is refilled in the background after every
// take, so it helps creates that come one at a time (the usual case: a
// user opens a project); a burst faster than the refill falls back to cold
// launches. Start (resuming a stopped sandbox) always launches cold: its
// workspace is its own.
//
// Pooled sandboxes are invisible until taken: their meta.json says
// "pooled", readMeta reports them as not found (so no API call can reach
// one by guessing its id), List skips them, and Close and New delete them.

// Refill retry delays after a failed pooled launch.
const (
	poolRetryMin = time.Second
	poolRetryMax = time.Minute
)

// warmPool is the set of launched, untaken sandboxes.
type warmPool struct {
	size int
	// kick wakes the refill loop; buffered, so kicking never blocks.
	kick chan struct{}
	// stop ends the refill loop and aborts its launch (at Close).
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	ready []string // ids, oldest first
	// filled is closed and replaced whenever a sandbox joins the pool.
	filled chan struct{}
}

func newWarmPool(size int) *warmPool {
	ctx, cancel := context.WithCancel(context.Background())
	return &warmPool{size: size, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel, filled: make(chan struct{})}
}

func (w *warmPool) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *warmPool) pop() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ready) == 0 {
		return "", false
	}
	id := w.ready[0]
	w.ready = w.ready[1:]
	return id, true
}

func (w *warmPool) push(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready = append(w.ready, id)
	close(w.filled)
	w.filled = make(chan struct{})
}

// state returns how many sandboxes are ready and a channel closed when
// another one joins.
func (w *warmPool) state() (int, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ready), w.filled
}

// startPool starts the refill loop of a pool of size sandboxes.
func (p *Provider) startPool(size int) {
	if size <= 0 {
		return
	}
	p.pool = newWarmPool(size)
	p.wg.Add(1)
	go p.refillPool()
	p.pool.wake()
}

// refillPool launches pooled sandboxes until the pool is full, each time
// it is woken, until Close.
func (p *Provider) refillPool() {
	defer p.wg.Done()
	w := p.pool
	retry := poolRetryMin
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.kick:
		}
		for {
			if n, _ := w.state(); n >= w.size || w.ctx.Err() != nil {
				break
			}
			id, err := p.create(w.ctx, sandbox.Spec{}, true)
			if err != nil {
				if w.ctx.Err() != nil {
					return
				}
				p.log.Warn("warm pool: launch a sandbox", "err", err, "retry_in", retry)
				select {
				case <-w.ctx.Done():
					return
				case <-time.After(retry):
				}
				retry = min(2*retry, poolRetryMax)
				continue
			}
			retry = poolRetryMin
			w.push(id)
		}
	}
}

// takePooled hands out a pooled sandbox with spec's labels, if one is
// ready and still running; ok is false otherwise.
func (p *Provider) takePooled(spec sandbox.Spec) (info sandbox.Info, ok bool) {
	if p.pool == nil {
		return sandbox.Info{}, false
	}
	for {
		id, found := p.pool.pop()
		if !found {
			return sandbox.Info{}, false
		}
		p.pool.wake()
		info, err := p.adoptPooled(id, spec)
		if err == nil {
			return info, true
		}
		p.log.Warn("warm pool: discard a sandbox", "sandbox", id, "err", err)
		if err := p.removePooled(id); err != nil {
			p.log.Error("warm pool: remove a sandbox", "sandbox", id, "err", err)
		}
	}
}

// adoptPooled turns pooled sandbox id into an ordinary one.
func (p *Provider) adoptPooled(id string, spec sandbox.Spec) (sandbox.Info, error) {
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()
	m, err := p.loadMeta(id)
	if err != nil {
		return sandbox.Info{}, err
	}
	if !m.Pooled {
		return sandbox.Info{}, fmt.Errorf("sandbox %s is not pooled", id)
	}
	if p.instance(id) == nil {
		return sandbox.Info{}, fmt.Errorf("sandbox %s: %w", id, sandbox.ErrNotRunning)
	}
	m.Pooled = false
	m.Labels = maps.Clone(spec.Labels)
	m.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	if err := p.writeMeta(m); err != nil {
		return sandbox.Info{}, err
	}
	return p.info(m), nil
}

// removePooled stops and deletes a pooled sandbox.
func (p *Provider) removePooled(id string) error {
	lock := p.lock(id)
	lock.Lock()
	defer lock.Unlock()
	if err := p.stop(context.Background(), id); err != nil {
		return err
	}
	if err := p.unmountWorkspace(id); err != nil {
		return err
	}
	if err := removeAll(p.sandboxDir(id)); err != nil {
		return fmt.Errorf("delete pooled sandbox %s: %w", id, err)
	}
	p.forgetLock(id)
	return nil
}

// removeAllPooled deletes the pooled sandboxes on disk: at Close, once
// nothing runs any more, and at New, for those a killed server left.
func (p *Provider) removeAllPooled() error {
	ids, err := p.listIDs()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		m, err := p.loadMeta(id)
		if err != nil || !m.Pooled {
			continue
		}
		errs = append(errs, p.removePooled(id))
	}
	return errors.Join(errs...)
}

// waitPool waits until n sandboxes are ready in the pool (for the
// benchmark and tests).
func (p *Provider) waitPool(ctx context.Context, n int) error {
	if p.pool == nil {
		return errors.New("no warm pool")
	}
	for {
		ready, filled := p.pool.state()
		if ready >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("warm pool has %d of %d sandboxes: %w", ready, n, ctx.Err())
		case <-filled:
		}
	}
}
