package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// emailKey is the form in which emails are compared. It is computed in Go
// rather than with SQL lower(), which folds only ASCII in SQLite.
func emailKey(email string) string {
	return strings.ToLower(email)
}

func userParams(u User) sqlitedb.CreateUserParams {
	return sqlitedb.CreateUserParams{
		ID:           u.ID,
		Email:        u.Email,
		EmailKey:     emailKey(u.Email),
		PasswordHash: u.PasswordHash,
		IsAdmin:      u.IsAdmin,
		CreatedAt:    toMillis(u.CreatedAt),
	}
}

func userFromRow(r sqlitedb.User) User {
	return User{
		ID:           r.ID,
		Email:        r.Email,
		PasswordHash: r.PasswordHash,
		IsAdmin:      r.IsAdmin,
		CreatedAt:    fromMillis(r.CreatedAt),
		DisabledAt:   fromNullMillis(r.DisabledAt),
	}
}

// CreateUser adds u. It returns ErrConflict if the ID or, ignoring case, the
// email is taken.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	return wrap(s.q.CreateUser(ctx, userParams(u)), "create user %s", u.ID)
}

// CreateFirstUser adds u only if there are no users yet, and returns
// ErrConflict otherwise. Of several concurrent calls at most one succeeds.
func (s *Store) CreateFirstUser(ctx context.Context, u User) error {
	err := s.inTx(ctx, func(tx *sql.Tx, q sqlitedb.Querier) error {
		if s.lockUsers != nil {
			if err := s.lockUsers(ctx, tx); err != nil {
				return err
			}
		}
		n, err := q.CountUsers(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		return q.CreateUser(ctx, userParams(u))
	})
	return wrap(err, "create first user %s", u.ID)
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	n, err := s.q.CountUsers(ctx)
	if err != nil {
		return 0, wrap(err, "count users")
	}
	return int(n), nil
}

// UserByID returns the user with the given ID, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	r, err := s.q.UserByID(ctx, id)
	if err != nil {
		return User{}, wrap(err, "user %s", id)
	}
	return userFromRow(r), nil
}

// UserByEmail returns the user whose email equals email ignoring case, or
// ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	r, err := s.q.UserByEmailKey(ctx, emailKey(email))
	if err != nil {
		return User{}, wrap(err, "user by email")
	}
	return userFromRow(r), nil
}

// DeleteUser deletes a user together with their sessions, API tokens,
// projects, runs and events. It returns ErrNotFound if there is no such user.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	n, err := s.q.DeleteUser(ctx, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "delete user %s", id)
}
