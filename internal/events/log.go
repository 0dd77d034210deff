// Package events is the append-only, sequenced event log of runs and its
// live fan-out. Every event is stored before anyone sees it, so a client that
// reconnects with the last sequence number it saw misses nothing.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

// ErrRunClosed is returned when appending to a run whose terminal event was
// already written.
var ErrRunClosed = errors.New("events: run already ended")

// Store is what the log needs from the store.
type Store interface {
	AppendEvent(ctx context.Context, e store.Event) error
	EventsAfter(ctx context.Context, runID string, afterSeq int64, limit int) ([]store.Event, error)
	LastEventSeq(ctx context.Context, runID string) (int64, error)
}

// subscriberBuffer bounds how far a live subscriber may lag before it is
// cut over to reading the stored log instead of blocking the run.
const subscriberBuffer = 256

// replayPage is how many stored events one read fetches.
const replayPage = 500

// Log appends events and delivers them to subscribers.
type Log struct {
	store  Store
	now    func() time.Time
	buffer int // per-subscriber buffer; small in tests to force lagging

	mu   sync.Mutex
	runs map[string]*liveRun // runs open in this process
}

type liveRun struct {
	mu      sync.Mutex
	lastSeq int64
	ended   bool
	subs    map[*subscriber]struct{}
}

type subscriber struct {
	ch chan store.Event
	// lagged is set when the buffer overflowed and ch was closed; the reader
	// then resumes from the store.
	lagged bool
}

func NewLog(s Store) *Log {
	return &Log{store: s, now: time.Now, buffer: subscriberBuffer, runs: make(map[string]*liveRun)}
}

// Open registers a run that is starting in this process so that appends and
// subscriptions go live. It continues after any events already stored.
func (l *Log) Open(ctx context.Context, runID string) error {
	last, err := l.store.LastEventSeq(ctx, runID)
	if err != nil {
		return fmt.Errorf("open event log of run %s: %w", runID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.runs[runID]; !ok {
		l.runs[runID] = &liveRun{lastSeq: last, subs: make(map[*subscriber]struct{})}
	}
	return nil
}

func (l *Log) live(runID string) *liveRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[runID]
}

// Append stores one event of an open run and delivers it to subscribers. A
// terminal event (complete, error) closes the run: later appends fail.
func (l *Log) Append(ctx context.Context, runID, typ string, data any) (store.Event, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return store.Event{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	lr := l.live(runID)
	if lr == nil {
		return store.Event{}, fmt.Errorf("append %s to run %s: %w", typ, runID, ErrRunClosed)
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.ended {
		return store.Event{}, fmt.Errorf("append %s to run %s: %w", typ, runID, ErrRunClosed)
	}
	e := store.Event{RunID: runID, Seq: lr.lastSeq + 1, Type: typ, Data: payload, CreatedAt: l.now().UTC()}
	if err := l.store.AppendEvent(ctx, e); err != nil {
		return store.Event{}, fmt.Errorf("store %s event of run %s: %w", typ, runID, err)
	}
	lr.lastSeq = e.Seq
	for s := range lr.subs {
		select {
		case s.ch <- e:
		default:
			s.lagged = true
			close(s.ch)
			delete(lr.subs, s)
		}
	}
	if IsTerminal(typ) {
		lr.ended = true
		for s := range lr.subs {
			close(s.ch)
			delete(lr.subs, s)
		}
		l.mu.Lock()
		delete(l.runs, runID)
		l.mu.Unlock()
	}
	return e, nil
}

// AppendClosed writes a terminal event for a run that is not open in this
// process (one a crashed server left running). It is a no-op returning false
// if the stored log already ends with a terminal event.
func (l *Log) AppendClosed(ctx context.Context, runID, typ string, data any) (bool, error) {
	if !IsTerminal(typ) {
		return false, fmt.Errorf("append %s to closed run %s: only terminal events", typ, runID)
	}
	if l.live(runID) != nil {
		return false, fmt.Errorf("append to closed run %s: the run is open", runID)
	}
	last, err := l.store.LastEventSeq(ctx, runID)
	if err != nil {
		return false, err
	}
	if last > 0 {
		tail, err := l.store.EventsAfter(ctx, runID, last-1, 1)
		if err != nil {
			return false, err
		}
		if len(tail) == 1 && IsTerminal(tail[0].Type) {
			return false, nil
		}
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return false, err
	}
	e := store.Event{RunID: runID, Seq: last + 1, Type: typ, Data: payload, CreatedAt: l.now().UTC()}
	if err := l.store.AppendEvent(ctx, e); err != nil {
		return false, fmt.Errorf("store %s event of run %s: %w", typ, runID, err)
	}
	return true, nil
}

// Follow sends every event of runID after afterSeq to send, in order and
// each once: first those stored, then live ones until the run ends, ctx is
// done or send fails. A run that is not open here (finished, or from before a
// restart) is replayed and Follow returns.
func (l *Log) Follow(ctx context.Context, runID string, afterSeq int64, send func(store.Event) error) error {
	for {
		lr := l.live(runID)
		var sub *subscriber
		if lr != nil {
			lr.mu.Lock()
			if !lr.ended {
				sub = &subscriber{ch: make(chan store.Event, l.buffer)}
				lr.subs[sub] = struct{}{}
			}
			lr.mu.Unlock()
		}
		// Everything up to the moment of subscribing is in the store; later
		// events also arrive on sub.ch. Seq numbers drop the overlap.
		var err error
		afterSeq, err = l.replay(ctx, runID, afterSeq, send)
		if err != nil || sub == nil {
			l.unsubscribe(lr, sub)
			return err
		}
		lagged, err := l.drain(ctx, sub, &afterSeq, send)
		l.unsubscribe(lr, sub)
		if err != nil || !lagged {
			return err
		}
		// The subscriber fell behind: go round and read the rest from the store.
	}
}

func (l *Log) replay(ctx context.Context, runID string, afterSeq int64, send func(store.Event) error) (int64, error) {
	for {
		page, err := l.store.EventsAfter(ctx, runID, afterSeq, replayPage)
		if err != nil {
			return afterSeq, fmt.Errorf("read events of run %s: %w", runID, err)
		}
		for _, e := range page {
			if err := send(e); err != nil {
				return afterSeq, err
			}
			afterSeq = e.Seq
		}
		if len(page) < replayPage {
			return afterSeq, nil
		}
	}
}

func (l *Log) drain(ctx context.Context, sub *subscriber, afterSeq *int64, send func(store.Event) error) (lagged bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case e, ok := <-sub.ch:
			if !ok {
				return sub.lagged, nil
			}
			if e.Seq <= *afterSeq {
				continue
			}
			if err := send(e); err != nil {
				return false, err
			}
			*afterSeq = e.Seq
		}
	}
}

func (l *Log) unsubscribe(lr *liveRun, sub *subscriber) {
	if lr == nil || sub == nil {
		return
	}
	lr.mu.Lock()
	delete(lr.subs, sub)
	lr.mu.Unlock()
}
