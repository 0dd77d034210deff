// Package limit counts events per key in a sliding time window: prompts per
// user per minute, failed sign-ins per account and per address.
package limit

import (
	"sync"
	"time"
)

// sweepAt is the number of keys above which Add drops keys whose events
// have all left the window, so memory stays bounded by recent activity.
const sweepAt = 10_000

// Window allows up to Max events per key in any span of Period. Its zero
// value is not usable; build one with NewWindow.
type Window struct {
	max    int
	period time.Duration
	now    func() time.Time

	mu   sync.Mutex
	hits map[string][]time.Time // per key, oldest first, all within period
}

// NewWindow returns a Window of max events per period. now is the clock
// (time.Now in production; tests inject their own).
func NewWindow(max int, period time.Duration, now func() time.Time) *Window {
	if now == nil {
		now = time.Now
	}
	return &Window{max: max, period: period, now: now, hits: map[string][]time.Time{}}
}

// recent drops key's events older than the window and returns the rest.
func (w *Window) recent(key string, now time.Time) []time.Time {
	hs := w.hits[key]
	i := 0
	for i < len(hs) && !now.Before(hs[i].Add(w.period)) {
		i++
	}
	hs = hs[i:]
	if len(hs) == 0 {
		delete(w.hits, key)
		return nil
	}
	w.hits[key] = hs
	return hs
}

// Blocked reports how long key must wait before another event is allowed;
// zero means it is allowed now.
func (w *Window) Blocked(key string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.blocked(key, w.now())
}

func (w *Window) blocked(key string, now time.Time) time.Duration {
	hs := w.recent(key, now)
	if len(hs) < w.max {
		return 0
	}
	// The oldest event that must leave before one more fits.
	return hs[len(hs)-w.max].Add(w.period).Sub(now)
}

// Add records an event for key whether or not it was allowed.
func (w *Window) Add(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.add(key, now)
}

func (w *Window) add(key string, now time.Time) {
	if len(w.hits) > sweepAt {
		for k := range w.hits {
			w.recent(k, now)
		}
	}
	hs := w.recent(key, now)
	if len(hs) >= w.max {
		// Only the newest max events decide when the key is free again.
		hs = hs[len(hs)-w.max+1:]
	}
	w.hits[key] = append(hs, now)
}

// Allow records an event for key if the window has room and reports how
// long to wait otherwise (zero: allowed and recorded).
func (w *Window) Allow(key string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if d := w.blocked(key, now); d > 0 {
		return d
	}
	w.add(key, now)
	return 0
}

// Reset forgets key's events (a successful sign-in clears its failures).
func (w *Window) Reset(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.hits, key)
}
