package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// runStatusRunning is the only status a run can be finished from. The
// schema allows one running run per project.
const runStatusRunning = "running"

func runFromRow(r sqlitedb.Run) Run {
	return Run{
		ID:           r.ID,
		ProjectID:    r.ProjectID,
		UserID:       r.UserID,
		Prompt:       r.Prompt,
		Status:       r.Status,
		ErrorCode:    r.ErrorCode,
		ErrorMessage: r.ErrorMessage,
		CreatedAt:    fromMillis(r.CreatedAt),
		FinishedAt:   fromNullMillis(r.FinishedAt),
	}
}

// CreateRun adds r. It returns ErrConflict if the ID is taken or if r is
// running and its project already has a running run, and ErrNotFound if the
// project or user does not exist.
func (s *Store) CreateRun(ctx context.Context, r Run) error {
	err := s.q.CreateRun(ctx, sqlitedb.CreateRunParams{
		ID:           r.ID,
		ProjectID:    r.ProjectID,
		UserID:       r.UserID,
		Prompt:       r.Prompt,
		Status:       r.Status,
		ErrorCode:    r.ErrorCode,
		ErrorMessage: r.ErrorMessage,
		CreatedAt:    toMillis(r.CreatedAt),
		FinishedAt:   toNullMillis(r.FinishedAt),
	})
	return wrap(err, "create run %s", r.ID)
}

// RunByID returns the run with the given ID, or ErrNotFound.
func (s *Store) RunByID(ctx context.Context, id string) (Run, error) {
	r, err := s.q.RunByID(ctx, id)
	if err != nil {
		return Run{}, wrap(err, "run %s", id)
	}
	return runFromRow(r), nil
}

// RunsByProject returns a project's runs, oldest first, so a conversation
// can be replayed in order.
func (s *Store) RunsByProject(ctx context.Context, projectID string) ([]Run, error) {
	rs, err := s.q.RunsByProject(ctx, projectID)
	if err != nil {
		return nil, wrap(err, "runs of project %s", projectID)
	}
	out := make([]Run, 0, len(rs))
	for _, r := range rs {
		out = append(out, runFromRow(r))
	}
	return out, nil
}

// FinishRun moves a running run to status, which must not be "running". A
// zero finishedAt means now. It returns ErrNotFound if there is no such run
// and ErrConflict if the run is no longer running.
func (s *Store) FinishRun(ctx context.Context, id, status, errorCode, errorMessage string, finishedAt time.Time) error {
	if status == "" || status == runStatusRunning {
		return fmt.Errorf("finish run %s: %q is not a final status", id, status)
	}
	if finishedAt.IsZero() {
		finishedAt = s.now()
	}
	n, err := s.q.FinishRun(ctx, sqlitedb.FinishRunParams{
		Status:       status,
		ErrorCode:    errorCode,
		ErrorMessage: errorMessage,
		FinishedAt:   toNullMillis(finishedAt),
		ID:           id,
	})
	if err != nil {
		return wrap(err, "finish run %s", id)
	}
	if n > 0 {
		return nil
	}
	// Nothing matched: either there is no such run or it is not running.
	if _, err := s.q.RunByID(ctx, id); err != nil {
		return wrap(err, "finish run %s", id)
	}
	return fmt.Errorf("finish run %s: not running: %w", id, ErrConflict)
}

// RunningRuns returns all running runs, oldest first.
func (s *Store) RunningRuns(ctx context.Context) ([]Run, error) {
	rs, err := s.q.RunningRuns(ctx)
	if err != nil {
		return nil, wrap(err, "running runs")
	}
	runs := make([]Run, len(rs))
	for i, r := range rs {
		runs[i] = runFromRow(r)
	}
	return runs, nil
}

// ActiveRunForProject returns the project's running run, or ErrNotFound.
func (s *Store) ActiveRunForProject(ctx context.Context, projectID string) (Run, error) {
	r, err := s.q.ActiveRunForProject(ctx, projectID)
	if err != nil {
		return Run{}, wrap(err, "active run of project %s", projectID)
	}
	return runFromRow(r), nil
}

// AppendEvent adds e to its run's event log. It returns ErrConflict if the
// run already has an event with e.Seq and ErrNotFound if the run does not
// exist. Seq must be positive.
func (s *Store) AppendEvent(ctx context.Context, e Event) error {
	data := e.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; pgx would send nil as NULL
	}
	err := s.q.AppendEvent(ctx, sqlitedb.AppendEventParams{
		RunID:     e.RunID,
		Seq:       e.Seq,
		Type:      e.Type,
		Data:      data,
		CreatedAt: toMillis(e.CreatedAt),
	})
	return wrap(err, "append event %d to run %s", e.Seq, e.RunID)
}

// EventsAfter returns up to limit events of the run with Seq > afterSeq in
// ascending order; limit <= 0 means no limit. Empty Data comes back as nil.
func (s *Store) EventsAfter(ctx context.Context, runID string, afterSeq int64, limit int) ([]Event, error) {
	maxEvents := int64(limit)
	if limit <= 0 {
		maxEvents = math.MaxInt64
	}
	rs, err := s.q.EventsAfter(ctx, sqlitedb.EventsAfterParams{RunID: runID, AfterSeq: afterSeq, MaxEvents: maxEvents})
	if err != nil {
		return nil, wrap(err, "events of run %s", runID)
	}
	es := make([]Event, len(rs))
	for i, r := range rs {
		es[i] = Event{RunID: r.RunID, Seq: r.Seq, Type: r.Type, Data: r.Data, CreatedAt: fromMillis(r.CreatedAt)}
		if len(r.Data) == 0 {
			es[i].Data = nil
		}
	}
	return es, nil
}

// LastEventSeq returns the highest Seq of the run's events, or 0 if it has
// none.
func (s *Store) LastEventSeq(ctx context.Context, runID string) (int64, error) {
	seq, err := s.q.LastEventSeq(ctx, runID)
	if err != nil {
		return 0, wrap(err, "last event of run %s", runID)
	}
	return seq, nil
}
