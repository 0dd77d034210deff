package run

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// followDevServerLogs emits the dev server's output lines as `log` events
// from now on, until the returned stop is called. Lines of earlier dev
// servers of the sandbox were shown by earlier runs and are skipped.
// stop delivers what was written up to its call, so a run's last log
// event precedes its terminal event.
func (m *Manager) followDevServerLogs(ctx context.Context, em *emitter, sandboxID string, logger *slog.Logger) (stop func()) {
	var last int64
	err := m.sandboxes.ProcessLogs(ctx, sandboxID, sandbox.LogsRequest{Name: devServerName, Limit: 1}, func(l sandbox.LogLine) error {
		last = l.Seq
		return nil
	})
	if err != nil && !errors.Is(err, sandbox.ErrNoProcess) {
		logger.Warn("read dev server log position", "sandbox_id", sandboxID, "err", err)
	}
	var mu sync.Mutex
	emit := func(l sandbox.LogLine) error {
		mu.Lock()
		defer mu.Unlock()
		if l.Seq <= last {
			return nil
		}
		last = l.Seq
		em.emit(ctx, events.TypeLog, events.LogLine{Stream: l.Stream, Line: l.Line})
		return nil
	}
	followCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for followCtx.Err() == nil {
			mu.Lock()
			after := last
			mu.Unlock()
			err := m.sandboxes.ProcessLogs(followCtx, sandboxID, sandbox.LogsRequest{Name: devServerName, After: after, Follow: true}, emit)
			if followCtx.Err() != nil {
				return
			}
			if !errors.Is(err, sandbox.ErrNoProcess) {
				logger.Warn("follow dev server log", "sandbox_id", sandboxID, "err", err)
				return
			}
			// Not started yet: the caller starts it right after this.
			select {
			case <-followCtx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		mu.Lock()
		after := last
		mu.Unlock()
		err := m.sandboxes.ProcessLogs(ctx, sandboxID, sandbox.LogsRequest{Name: devServerName, After: after}, emit)
		if err != nil && ctx.Err() == nil && !errors.Is(err, sandbox.ErrNoProcess) {
			logger.Warn("read dev server log", "sandbox_id", sandboxID, "err", err)
		}
	}
}
