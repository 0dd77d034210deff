package store

import (
	"context"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// CreateSession adds a session. It returns ErrConflict if the token hash is
// taken and ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	err := s.q.CreateSession(ctx, sqlitedb.CreateSessionParams{
		TokenHash: sess.TokenHash,
		UserID:    sess.UserID,
		CreatedAt: toMillis(sess.CreatedAt),
		ExpiresAt: toMillis(sess.ExpiresAt),
	})
	return wrap(err, "create session for user %s", sess.UserID)
}

// SessionByTokenHash returns the session with the given token hash, or
// ErrNotFound. Expired sessions are returned too; checking ExpiresAt is up to
// the caller.
func (s *Store) SessionByTokenHash(ctx context.Context, hash string) (Session, error) {
	r, err := s.q.SessionByTokenHash(ctx, hash)
	if err != nil {
		return Session{}, wrap(err, "session by token hash")
	}
	return Session{
		TokenHash: r.TokenHash,
		UserID:    r.UserID,
		CreatedAt: fromMillis(r.CreatedAt),
		ExpiresAt: fromMillis(r.ExpiresAt),
	}, nil
}

// DeleteSession deletes the session with the given token hash. Deleting a
// session that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	return wrap(s.q.DeleteSession(ctx, hash), "delete session")
}

// DeleteExpiredSessions deletes the sessions whose ExpiresAt is not after now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return wrap(s.q.DeleteExpiredSessions(ctx, toMillis(now)), "delete expired sessions")
}

// CreateAPIToken adds an API token. It returns ErrConflict if the ID or the
// token hash is taken and ErrNotFound if the user does not exist.
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) error {
	err := s.q.CreateAPIToken(ctx, sqlitedb.CreateAPITokenParams{
		ID:        t.ID,
		UserID:    t.UserID,
		Name:      t.Name,
		TokenHash: t.TokenHash,
		CreatedAt: toMillis(t.CreatedAt),
	})
	return wrap(err, "create api token %s", t.ID)
}

// APITokenByHash returns the API token with the given hash, or ErrNotFound.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	r, err := s.q.APITokenByHash(ctx, hash)
	if err != nil {
		return APIToken{}, wrap(err, "api token by hash")
	}
	return APIToken{
		ID:        r.ID,
		UserID:    r.UserID,
		Name:      r.Name,
		TokenHash: r.TokenHash,
		CreatedAt: fromMillis(r.CreatedAt),
	}, nil
}
