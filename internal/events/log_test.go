package events

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/store"
)

// newRun makes a real SQLite store holding one user, project and run.
func newRun(t *testing.T) (*store.Store, string) {
	t.Helper()
	ctx := t.Context()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "qv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	must(t, s.CreateUser(ctx, store.User{ID: "u1", Email: "u@example.com", PasswordHash: "x", CreatedAt: now}))
	must(t, s.CreateProject(ctx, store.Project{ID: "p1", UserID: "u1", Name: "p", Type: "website", Status: "idle", CreatedAt: now, UpdatedAt: now}))
	must(t, s.CreateRun(ctx, store.Run{ID: "r1", ProjectID: "p1", UserID: "u1", Prompt: "x", Status: "running", CreatedAt: now}))
	return s, "r1"
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func follow(t *testing.T, l *Log, runID string, after int64) []int64 {
	t.Helper()
	var got []int64
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := l.Follow(ctx, runID, after, func(e store.Event) error {
		got = append(got, e.Seq)
		return nil
	}); err != nil {
		t.Fatalf("Follow(after %d): %v", after, err)
	}
	return got
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestAppendAssignsSequenceAndClosesOnTerminal(t *testing.T) {
	s, run := newRun(t)
	l := NewLog(s)
	ctx := t.Context()
	must(t, l.Open(ctx, run))
	for i := range 3 {
		e, err := l.Append(ctx, run, TypeLog, LogLine{Stream: "stdout", Line: fmt.Sprint(i)})
		must(t, err)
		if e.Seq != int64(i+1) {
			t.Fatalf("seq = %d, want %d", e.Seq, i+1)
		}
	}
	if _, err := l.Append(ctx, run, TypeComplete, Complete{Success: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, run, TypeLog, LogLine{}); !errors.Is(err, ErrRunClosed) {
		t.Fatalf("append after terminal: err = %v, want ErrRunClosed", err)
	}
	if diff := cmp.Diff(span(1, 4), follow(t, l, run, 0)); diff != "" {
		t.Errorf("replay (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(span(3, 4), follow(t, l, run, 2)); diff != "" {
		t.Errorf("replay after 2 (-want +got):\n%s", diff)
	}
	if got := follow(t, l, run, 4); len(got) != 0 {
		t.Errorf("replay after the last = %v, want nothing", got)
	}
}

// Followers that join at any point of a live run, fast or slow, each get
// every later event exactly once and in order.
func TestFollowLiveRunMissesNothing(t *testing.T) {
	s, run := newRun(t)
	l := NewLog(s)
	l.buffer = 4 // slow followers overflow and must recover from the store
	ctx := t.Context()
	must(t, l.Open(ctx, run))
	const total = 600

	type result struct {
		after int64
		got   []int64
		err   error
	}
	results := make(chan result, 8)
	var followers sync.WaitGroup
	start := func(after int64, slow bool) {
		followers.Go(func() {
			var got []int64
			err := l.Follow(ctx, run, after, func(e store.Event) error {
				if slow && len(got) < 300 {
					time.Sleep(200 * time.Microsecond) // falls behind the buffer
				}
				got = append(got, e.Seq)
				return nil
			})
			results <- result{after, got, err}
		})
	}
	start(0, false)
	start(0, true)
	for i := 1; i <= total; i++ {
		typ := TypeLog
		if i == total {
			typ = TypeComplete
		}
		if _, err := l.Append(ctx, run, typ, LogLine{Line: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			start(50, false)
		}
		if i == 400 {
			start(400, true)
		}
	}
	followers.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Errorf("follower after %d: %v", r.after, r.err)
			continue
		}
		if diff := cmp.Diff(span(r.after+1, total), r.got); diff != "" {
			t.Errorf("follower after %d (-want +got):\n%s", r.after, diff)
		}
	}
}

func TestFollowStopsWithContext(t *testing.T) {
	s, run := newRun(t)
	l := NewLog(s)
	must(t, l.Open(t.Context(), run))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Follow(ctx, run, 0, func(store.Event) error { return nil }) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v, want context.Canceled", err)
	}
	// The run goes on: appends still work.
	if _, err := l.Append(t.Context(), run, TypeLog, LogLine{Line: "still here"}); err != nil {
		t.Fatal(err)
	}
}

func TestAppendClosedEndsAnOrphanedRunOnce(t *testing.T) {
	s, run := newRun(t)
	ctx := t.Context()
	// A previous process wrote two events and died.
	old := NewLog(s)
	must(t, old.Open(ctx, run))
	for range 2 {
		if _, err := old.Append(ctx, run, TypeProgress, Progress{Status: StatusGenerating}); err != nil {
			t.Fatal(err)
		}
	}
	l := NewLog(s)
	wrote, err := l.AppendClosed(ctx, run, TypeError, Error{Code: CodeInterrupted, Message: "restarted"})
	if err != nil || !wrote {
		t.Fatalf("AppendClosed = %v, %v; want written", wrote, err)
	}
	wrote, err = l.AppendClosed(ctx, run, TypeError, Error{Code: CodeInterrupted, Message: "again"})
	if err != nil || wrote {
		t.Fatalf("second AppendClosed = %v, %v; want a no-op", wrote, err)
	}
	var types []string
	must(t, l.Follow(ctx, run, 0, func(e store.Event) error {
		types = append(types, e.Type)
		return nil
	}))
	if diff := cmp.Diff([]string{TypeProgress, TypeProgress, TypeError}, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := l.AppendClosed(ctx, run, TypeLog, LogLine{}); err == nil {
		t.Error("AppendClosed with a non-terminal type succeeded")
	}
}
