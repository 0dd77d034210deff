package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

// sseFrame is the data of one SSE event (ARCHITECTURE.md, event taxonomy).
type sseFrame struct {
	Type  string          `json:"type"`
	Seq   int64           `json:"seq"`
	RunID string          `json:"runId"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`
}

// lastEventID reads where a client resumes: the Last-Event-ID header that
// EventSource sends, or ?after= for clients that cannot set headers.
func lastEventID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("Last-Event-ID (or after) must be a non-negative event sequence number")
	}
	return n, nil
}

// sseWriter writes frames and heartbeats to one response; writes from the
// heartbeat goroutine and the event loop are serialised.
type sseWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

// writeTimeout drops a client that stops reading instead of holding the run's
// fan-out; it resumes from the log when it reconnects.
const writeTimeout = 30 * time.Second

func (sw *sseWriter) write(b []byte) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if err := sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// frame writes one SSE event whose data is already JSON.
func (sw *sseWriter) frame(id int64, event string, data []byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data)
	return sw.write(b.Bytes())
}

func (sw *sseWriter) event(e store.Event) error {
	data, err := json.Marshal(sseFrame{Type: e.Type, Seq: e.Seq, RunID: e.RunID, Time: e.CreatedAt, Data: e.Data})
	if err != nil {
		return err
	}
	return sw.frame(e.Seq, e.Type, data)
}

// serveSSE answers with an event stream: follow writes the events and
// returns when the stream is over, while heartbeat comments keep idle
// connections alive. Its error is returned for logging only: the headers are
// sent, so the client just sees the stream end and resumes with
// Last-Event-ID.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, follow func(ctx context.Context, sw *sseWriter) error) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if err := sw.write([]byte("retry: 3000\n\n")); err != nil {
		return err
	}

	ctx := r.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := sw.write([]byte(": ping\n\n")); err != nil {
					return
				}
			}
		}
	})
	err := follow(ctx, sw)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		return nil // the client left; nothing went wrong
	}
	return err
}

// streamEvents sends a run's events after afterSeq as SSE until the run
// ends (a finished run is replayed, then the stream closes) or the client
// goes away. Closing the stream never stops the run.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, runID string, afterSeq int64) error {
	err := s.serveSSE(w, r, func(ctx context.Context, sw *sseWriter) error {
		return s.Events.Follow(ctx, runID, afterSeq, sw.event)
	})
	if err != nil {
		s.Logger.Warn("event stream ended early", "request_id", requestID(r.Context()), "run_id", runID, "err", err)
	}
	return nil
}
