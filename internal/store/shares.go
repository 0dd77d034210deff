package store

import (
	"context"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// Share is a revocable read-only link to one project. Only the SHA-256 of
// its token is stored.
type Share struct {
	ID        string
	ProjectID string
	UserID    string // who created it
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
}

// Live reports whether the share still grants access at now.
func (sh Share) Live(now time.Time) bool {
	return sh.RevokedAt.IsZero() && (sh.ExpiresAt.IsZero() || now.Before(sh.ExpiresAt))
}

func shareFromRow(r sqlitedb.Share) Share {
	return Share{
		ID: r.ID, ProjectID: r.ProjectID, UserID: r.UserID, TokenHash: r.TokenHash, CreatedAt: fromMillis(r.CreatedAt),
		ExpiresAt: fromNullMillis(r.ExpiresAt), RevokedAt: fromNullMillis(r.RevokedAt),
	}
}

// CreateShare stores a share link. It returns ErrNotFound if the project or
// user does not exist.
func (s *Store) CreateShare(ctx context.Context, sh Share) error {
	err := s.q.CreateShare(ctx, sqlitedb.CreateShareParams{
		ID: sh.ID, ProjectID: sh.ProjectID, UserID: sh.UserID, TokenHash: sh.TokenHash, CreatedAt: toMillis(sh.CreatedAt),
		ExpiresAt: toNullMillis(sh.ExpiresAt), RevokedAt: toNullMillis(sh.RevokedAt),
	})
	return wrap(err, "create share %s", sh.ID)
}

// ShareByTokenHash returns a share, live or not, or ErrNotFound.
func (s *Store) ShareByTokenHash(ctx context.Context, hash string) (Share, error) {
	r, err := s.q.ShareByTokenHash(ctx, hash)
	if err != nil {
		return Share{}, wrap(err, "share by token hash")
	}
	return shareFromRow(r), nil
}

// ShareByID returns a share, live or not, or ErrNotFound.
func (s *Store) ShareByID(ctx context.Context, id string) (Share, error) {
	r, err := s.q.ShareByID(ctx, id)
	if err != nil {
		return Share{}, wrap(err, "share %s", id)
	}
	return shareFromRow(r), nil
}

// SharesByProject lists a project's shares, newest first.
func (s *Store) SharesByProject(ctx context.Context, projectID string) ([]Share, error) {
	rs, err := s.q.SharesByProject(ctx, projectID)
	if err != nil {
		return nil, wrap(err, "shares of project %s", projectID)
	}
	out := make([]Share, len(rs))
	for i, r := range rs {
		out[i] = shareFromRow(r)
	}
	return out, nil
}

// RevokeShare revokes a live share of the project. It returns ErrNotFound
// if the project has no such share or it is already revoked.
func (s *Store) RevokeShare(ctx context.Context, projectID, id string, now time.Time) error {
	n, err := s.q.RevokeShare(ctx, sqlitedb.RevokeShareParams{RevokedAt: toNullMillis(now), ID: id, ProjectID: projectID})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "revoke share %s", id)
}
