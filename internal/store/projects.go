package store

import (
	"context"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

func projectFromRow(r sqlitedb.Project) Project {
	return Project{
		ID:        r.ID,
		UserID:    r.UserID,
		Name:      r.Name,
		Type:      r.Type,
		SandboxID: r.SandboxID,
		Status:    r.Status,
		CreatedAt: fromMillis(r.CreatedAt),
		UpdatedAt: fromMillis(r.UpdatedAt),

		PublicPreview: r.PublicPreview,
		Model:         r.Model,
	}
}

// CreateProject adds p. It returns ErrConflict if the ID is taken and
// ErrNotFound if the user does not exist.
func (s *Store) CreateProject(ctx context.Context, p Project) error {
	err := s.q.CreateProject(ctx, sqlitedb.CreateProjectParams{
		ID:        p.ID,
		UserID:    p.UserID,
		Name:      p.Name,
		Type:      p.Type,
		SandboxID: p.SandboxID,
		Status:    p.Status,
		CreatedAt: toMillis(p.CreatedAt),
		UpdatedAt: toMillis(p.UpdatedAt),
	})
	return wrap(err, "create project %s", p.ID)
}

// ProjectByID returns the project with the given ID, or ErrNotFound.
func (s *Store) ProjectByID(ctx context.Context, id string) (Project, error) {
	r, err := s.q.ProjectByID(ctx, id)
	if err != nil {
		return Project{}, wrap(err, "project %s", id)
	}
	return projectFromRow(r), nil
}

// ProjectsByUser returns the user's projects, newest first.
func (s *Store) ProjectsByUser(ctx context.Context, userID string) ([]Project, error) {
	rs, err := s.q.ProjectsByUser(ctx, userID)
	if err != nil {
		return nil, wrap(err, "projects of user %s", userID)
	}
	ps := make([]Project, len(rs))
	for i, r := range rs {
		ps[i] = projectFromRow(r)
	}
	return ps, nil
}

// SetProjectSandbox records the project's sandbox and bumps UpdatedAt. It
// returns ErrNotFound if there is no such project.
func (s *Store) SetProjectSandbox(ctx context.Context, id, sandboxID string) error {
	n, err := s.q.SetProjectSandbox(ctx, sqlitedb.SetProjectSandboxParams{
		SandboxID: sandboxID,
		UpdatedAt: toMillis(s.now()),
		ID:        id,
	})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set sandbox of project %s", id)
}

// SetProjectStatus sets the project's status and bumps UpdatedAt. It returns
// ErrNotFound if there is no such project.
func (s *Store) SetProjectStatus(ctx context.Context, id, status string) error {
	n, err := s.q.SetProjectStatus(ctx, sqlitedb.SetProjectStatusParams{
		Status:    status,
		UpdatedAt: toMillis(s.now()),
		ID:        id,
	})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set status of project %s", id)
}

// DeleteProject deletes a project together with its runs and their events.
// It returns ErrNotFound if there is no such project.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	n, err := s.q.DeleteProject(ctx, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "delete project %s", id)
}

// RenameProject sets a project's name. It returns ErrNotFound if there is no
// such project.
func (s *Store) RenameProject(ctx context.Context, id, name string, now time.Time) error {
	n, err := s.q.RenameProject(ctx, sqlitedb.RenameProjectParams{Name: name, UpdatedAt: toMillis(now), ID: id})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "rename project %s", id)
}
