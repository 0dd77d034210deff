package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rs, err := s.q.ListUsers(ctx)
	if err != nil {
		return nil, wrap(err, "list users")
	}
	out := make([]User, len(rs))
	for i, r := range rs {
		out[i] = userFromRow(r)
	}
	return out, nil
}

// SetUserDisabled disables the user at the given time, or enables them again
// when at is zero. It returns ErrNotFound if there is no such user.
func (s *Store) SetUserDisabled(ctx context.Context, id string, at time.Time) error {
	n, err := s.q.SetUserDisabled(ctx, sqlitedb.SetUserDisabledParams{DisabledAt: toNullMillis(at), ID: id})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set user %s disabled", id)
}

// DeleteUserSessions ends every session of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	return wrap(s.q.DeleteUserSessions(ctx, userID), "delete sessions of user %s", userID)
}

// APITokensByUser lists a user's API tokens, oldest first.
func (s *Store) APITokensByUser(ctx context.Context, userID string) ([]APIToken, error) {
	rs, err := s.q.APITokensByUser(ctx, userID)
	if err != nil {
		return nil, wrap(err, "api tokens of user %s", userID)
	}
	out := make([]APIToken, len(rs))
	for i, r := range rs {
		out[i] = APIToken{ID: r.ID, UserID: r.UserID, Name: r.Name, TokenHash: r.TokenHash, CreatedAt: fromMillis(r.CreatedAt)}
	}
	return out, nil
}

// DeleteAPIToken revokes the user's token id. It returns ErrNotFound if the
// user has no such token.
func (s *Store) DeleteAPIToken(ctx context.Context, userID, id string) error {
	n, err := s.q.DeleteAPIToken(ctx, sqlitedb.DeleteAPITokenParams{ID: id, UserID: userID})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "delete api token %s", id)
}

// ProjectBySandboxID returns the project whose sandbox is id, or ErrNotFound.
func (s *Store) ProjectBySandboxID(ctx context.Context, id string) (Project, error) {
	r, err := s.q.ProjectBySandboxID(ctx, id)
	if err != nil {
		return Project{}, wrap(err, "project of sandbox %s", id)
	}
	return projectFromRow(r), nil
}

// SetProjectPublicPreview sets whether anyone may open the project's preview.
func (s *Store) SetProjectPublicPreview(ctx context.Context, id string, public bool, now time.Time) error {
	n, err := s.q.SetProjectPublicPreview(ctx, sqlitedb.SetProjectPublicPreviewParams{PublicPreview: public, UpdatedAt: toMillis(now), ID: id})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return wrap(err, "set public preview of project %s", id)
}

// CountRunningRunsByUser counts the user's runs in progress.
func (s *Store) CountRunningRunsByUser(ctx context.Context, userID string) (int, error) {
	n, err := s.q.CountRunningRunsByUser(ctx, userID)
	if err != nil {
		return 0, wrap(err, "count running runs of user %s", userID)
	}
	return int(n), nil
}

// Usage is what one user has used, for admins.
type Usage struct {
	Projects int
	Runs     int
}

// UsageByUser returns the usage of every user who has any, by user ID.
func (s *Store) UsageByUser(ctx context.Context) (map[string]Usage, error) {
	out := map[string]Usage{}
	ps, err := s.q.ProjectCountsByUser(ctx)
	if err != nil {
		return nil, wrap(err, "count projects by user")
	}
	for _, r := range ps {
		u := out[r.UserID]
		u.Projects = int(r.Projects)
		out[r.UserID] = u
	}
	rs, err := s.q.RunCountsByUser(ctx)
	if err != nil {
		return nil, wrap(err, "count runs by user")
	}
	for _, r := range rs {
		u := out[r.UserID]
		u.Runs = int(r.Runs)
		out[r.UserID] = u
	}
	return out, nil
}

// Invite lets one person sign up while registration is closed. Only the
// SHA-256 of its token is stored.
type Invite struct {
	TokenHash string
	Email     string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// CreateInvite stores an invitation.
func (s *Store) CreateInvite(ctx context.Context, in Invite) error {
	err := s.q.CreateInvite(ctx, sqlitedb.CreateInviteParams{
		TokenHash: in.TokenHash, Email: in.Email, CreatedBy: in.CreatedBy,
		CreatedAt: toMillis(in.CreatedAt), ExpiresAt: toMillis(in.ExpiresAt), UsedAt: toNullMillis(in.UsedAt),
	})
	return wrap(err, "create invite")
}

// InviteByTokenHash returns an invitation, used or not, or ErrNotFound.
func (s *Store) InviteByTokenHash(ctx context.Context, hash string) (Invite, error) {
	r, err := s.q.InviteByTokenHash(ctx, hash)
	if err != nil {
		return Invite{}, wrap(err, "invite by token hash")
	}
	return Invite{
		TokenHash: r.TokenHash, Email: r.Email, CreatedBy: r.CreatedBy, CreatedAt: fromMillis(r.CreatedAt),
		ExpiresAt: fromMillis(r.ExpiresAt), UsedAt: fromNullMillis(r.UsedAt),
	}, nil
}

// CreateUserWithInvite adds u and uses up the invitation in one transaction.
// It returns ErrNotFound if the invitation is unknown, used or expired at
// u.CreatedAt, and ErrConflict if the email is taken.
func (s *Store) CreateUserWithInvite(ctx context.Context, u User, inviteHash string) error {
	err := s.inTx(ctx, func(_ *sql.Tx, q sqlitedb.Querier) error {
		n, err := q.UseInvite(ctx, sqlitedb.UseInviteParams{UsedAt: toNullMillis(u.CreatedAt), TokenHash: inviteHash})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return q.CreateUser(ctx, userParams(u))
	})
	return wrap(err, "create invited user %s", u.ID)
}
