package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/pgdb"
	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// Sandbox is the server's record of one sandbox: whose it is and whether it
// should be running. The engine holds the sandbox itself.
type Sandbox struct {
	ID           string
	ProjectID    string
	UserID       string
	Engine       string
	State        string // running or stopped
	Processes    []SupervisedProcess
	CreatedAt    time.Time
	LastActiveAt time.Time
	StoppedAt    time.Time // zero while running
}

// SupervisedProcess is a background process started again whenever the
// sandbox resumes (its dev server).
type SupervisedProcess struct {
	Name    string `json:"name"`
	Command string `json:"command"`
}

func sandboxFromRow(r sqlitedb.Sandbox) (Sandbox, error) {
	sb := Sandbox{
		ID:           r.ID,
		ProjectID:    r.ProjectID,
		UserID:       r.UserID,
		Engine:       r.Engine,
		State:        r.State,
		CreatedAt:    fromMillis(r.CreatedAt),
		LastActiveAt: fromMillis(r.LastActiveAt),
		StoppedAt:    fromNullMillis(r.StoppedAt),
	}
	if err := json.Unmarshal([]byte(r.Processes), &sb.Processes); err != nil {
		return Sandbox{}, fmt.Errorf("sandbox %s: decode processes: %w", r.ID, err)
	}
	return sb, nil
}

func encodeProcesses(ps []SupervisedProcess) (string, error) {
	if ps == nil {
		ps = []SupervisedProcess{}
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return "", fmt.Errorf("encode processes: %w", err)
	}
	return string(b), nil
}

// CreateSandbox adds sb. It returns ErrConflict if the ID is taken.
func (s *Store) CreateSandbox(ctx context.Context, sb Sandbox) error {
	procs, err := encodeProcesses(sb.Processes)
	if err != nil {
		return fmt.Errorf("create sandbox %s: %w", sb.ID, err)
	}
	err = s.q.CreateSandbox(ctx, sqlitedb.CreateSandboxParams{
		ID:           sb.ID,
		ProjectID:    sb.ProjectID,
		UserID:       sb.UserID,
		Engine:       sb.Engine,
		State:        sb.State,
		Processes:    procs,
		CreatedAt:    toMillis(sb.CreatedAt),
		LastActiveAt: toMillis(sb.LastActiveAt),
		StoppedAt:    toNullMillis(sb.StoppedAt),
	})
	return wrap(err, "create sandbox %s", sb.ID)
}

// SandboxByID returns the sandbox with the given ID, or ErrNotFound.
func (s *Store) SandboxByID(ctx context.Context, id string) (Sandbox, error) {
	r, err := s.q.SandboxByID(ctx, id)
	if err != nil {
		return Sandbox{}, wrap(err, "sandbox %s", id)
	}
	return sandboxFromRow(r)
}

// SandboxesByUser returns the user's sandboxes, newest first.
func (s *Store) SandboxesByUser(ctx context.Context, userID string) ([]Sandbox, error) {
	rs, err := s.q.SandboxesByUser(ctx, userID)
	if err != nil {
		return nil, wrap(err, "sandboxes of user %s", userID)
	}
	return sandboxesFromRows(rs)
}

// AllSandboxes returns every sandbox, oldest first.
func (s *Store) AllSandboxes(ctx context.Context) ([]Sandbox, error) {
	rs, err := s.q.AllSandboxes(ctx)
	if err != nil {
		return nil, wrap(err, "list sandboxes")
	}
	return sandboxesFromRows(rs)
}

func sandboxesFromRows(rs []sqlitedb.Sandbox) ([]Sandbox, error) {
	out := make([]Sandbox, len(rs))
	for i, r := range rs {
		sb, err := sandboxFromRow(r)
		if err != nil {
			return nil, err
		}
		out[i] = sb
	}
	return out, nil
}

// SetSandboxState records a state change at time at: it is the sandbox's
// last activity, and its stop time when state is not running. It returns
// ErrNotFound if there is no such sandbox.
func (s *Store) SetSandboxState(ctx context.Context, id, state string, stoppedAt, at time.Time) error {
	n, err := s.q.SetSandboxState(ctx, sqlitedb.SetSandboxStateParams{
		State:        state,
		StoppedAt:    toNullMillis(stoppedAt),
		LastActiveAt: toMillis(at),
		ID:           id,
	})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set state of sandbox %s", id)
}

// TouchSandbox moves the sandbox's last activity forward to at; an older
// time changes nothing.
func (s *Store) TouchSandbox(ctx context.Context, id string, at time.Time) error {
	_, err := s.q.TouchSandbox(ctx, sqlitedb.TouchSandboxParams{LastActiveAt: toMillis(at), ID: id})
	return wrap(err, "touch sandbox %s", id)
}

// SetSandboxProcesses replaces the sandbox's supervised processes. It
// returns ErrNotFound if there is no such sandbox.
func (s *Store) SetSandboxProcesses(ctx context.Context, id string, ps []SupervisedProcess) error {
	procs, err := encodeProcesses(ps)
	if err != nil {
		return fmt.Errorf("set processes of sandbox %s: %w", id, err)
	}
	n, err := s.q.SetSandboxProcesses(ctx, sqlitedb.SetSandboxProcessesParams{Processes: procs, ID: id})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set processes of sandbox %s", id)
}

// DeleteSandbox removes the record. It returns ErrNotFound if there is no
// such sandbox.
func (s *Store) DeleteSandbox(ctx context.Context, id string) error {
	n, err := s.q.DeleteSandbox(ctx, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "delete sandbox %s", id)
}

// PostgreSQL adapters of the sandbox queries (see postgres.go).

func (q pgQuerier) CreateSandbox(ctx context.Context, arg sqlitedb.CreateSandboxParams) error {
	return q.Queries.CreateSandbox(ctx, pgdb.CreateSandboxParams(arg))
}

func (q pgQuerier) SandboxByID(ctx context.Context, id string) (sqlitedb.Sandbox, error) {
	r, err := q.Queries.SandboxByID(ctx, id)
	return sqlitedb.Sandbox(r), err
}

func (q pgQuerier) SandboxesByUser(ctx context.Context, userID string) ([]sqlitedb.Sandbox, error) {
	rs, err := q.Queries.SandboxesByUser(ctx, userID)
	return convertAll(rs, err, func(r pgdb.Sandbox) sqlitedb.Sandbox { return sqlitedb.Sandbox(r) })
}

func (q pgQuerier) AllSandboxes(ctx context.Context) ([]sqlitedb.Sandbox, error) {
	rs, err := q.Queries.AllSandboxes(ctx)
	return convertAll(rs, err, func(r pgdb.Sandbox) sqlitedb.Sandbox { return sqlitedb.Sandbox(r) })
}

func (q pgQuerier) SetSandboxState(ctx context.Context, arg sqlitedb.SetSandboxStateParams) (int64, error) {
	return q.Queries.SetSandboxState(ctx, pgdb.SetSandboxStateParams(arg))
}

func (q pgQuerier) TouchSandbox(ctx context.Context, arg sqlitedb.TouchSandboxParams) (int64, error) {
	return q.Queries.TouchSandbox(ctx, pgdb.TouchSandboxParams(arg))
}

func (q pgQuerier) SetSandboxProcesses(ctx context.Context, arg sqlitedb.SetSandboxProcessesParams) (int64, error) {
	return q.Queries.SetSandboxProcesses(ctx, pgdb.SetSandboxProcessesParams(arg))
}
