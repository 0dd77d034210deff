package store

import (
	"context"

	"github.com/quickvibe/quickvibe/internal/store/pgdb"
	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// pgQuerier conversions for the security queries (see postgres.go for why
// each is a plain type conversion).

func (q pgQuerier) ListUsers(ctx context.Context) ([]sqlitedb.User, error) {
	rs, err := q.Queries.ListUsers(ctx)
	return convertAll(rs, err, func(r pgdb.User) sqlitedb.User { return sqlitedb.User(r) })
}

func (q pgQuerier) SetUserDisabled(ctx context.Context, arg sqlitedb.SetUserDisabledParams) (int64, error) {
	return q.Queries.SetUserDisabled(ctx, pgdb.SetUserDisabledParams(arg))
}

func (q pgQuerier) APITokensByUser(ctx context.Context, userID string) ([]sqlitedb.ApiToken, error) {
	rs, err := q.Queries.APITokensByUser(ctx, userID)
	return convertAll(rs, err, func(r pgdb.ApiToken) sqlitedb.ApiToken { return sqlitedb.ApiToken(r) })
}

func (q pgQuerier) DeleteAPIToken(ctx context.Context, arg sqlitedb.DeleteAPITokenParams) (int64, error) {
	return q.Queries.DeleteAPIToken(ctx, pgdb.DeleteAPITokenParams(arg))
}

func (q pgQuerier) ProjectBySandboxID(ctx context.Context, sandboxID string) (sqlitedb.Project, error) {
	r, err := q.Queries.ProjectBySandboxID(ctx, sandboxID)
	return sqlitedb.Project(r), err
}

func (q pgQuerier) SetProjectPublicPreview(ctx context.Context, arg sqlitedb.SetProjectPublicPreviewParams) (int64, error) {
	return q.Queries.SetProjectPublicPreview(ctx, pgdb.SetProjectPublicPreviewParams(arg))
}

func (q pgQuerier) ProjectCountsByUser(ctx context.Context) ([]sqlitedb.ProjectCountsByUserRow, error) {
	rs, err := q.Queries.ProjectCountsByUser(ctx)
	return convertAll(rs, err, func(r pgdb.ProjectCountsByUserRow) sqlitedb.ProjectCountsByUserRow {
		return sqlitedb.ProjectCountsByUserRow(r)
	})
}

func (q pgQuerier) RunCountsByUser(ctx context.Context) ([]sqlitedb.RunCountsByUserRow, error) {
	rs, err := q.Queries.RunCountsByUser(ctx)
	return convertAll(rs, err, func(r pgdb.RunCountsByUserRow) sqlitedb.RunCountsByUserRow { return sqlitedb.RunCountsByUserRow(r) })
}

func (q pgQuerier) CreateShare(ctx context.Context, arg sqlitedb.CreateShareParams) error {
	return q.Queries.CreateShare(ctx, pgdb.CreateShareParams(arg))
}

func (q pgQuerier) ShareByTokenHash(ctx context.Context, tokenHash string) (sqlitedb.Share, error) {
	r, err := q.Queries.ShareByTokenHash(ctx, tokenHash)
	return sqlitedb.Share(r), err
}

func (q pgQuerier) ShareByID(ctx context.Context, id string) (sqlitedb.Share, error) {
	r, err := q.Queries.ShareByID(ctx, id)
	return sqlitedb.Share(r), err
}

func (q pgQuerier) SharesByProject(ctx context.Context, projectID string) ([]sqlitedb.Share, error) {
	rs, err := q.Queries.SharesByProject(ctx, projectID)
	return convertAll(rs, err, func(r pgdb.Share) sqlitedb.Share { return sqlitedb.Share(r) })
}

func (q pgQuerier) RevokeShare(ctx context.Context, arg sqlitedb.RevokeShareParams) (int64, error) {
	return q.Queries.RevokeShare(ctx, pgdb.RevokeShareParams(arg))
}

func (q pgQuerier) CreateInvite(ctx context.Context, arg sqlitedb.CreateInviteParams) error {
	return q.Queries.CreateInvite(ctx, pgdb.CreateInviteParams(arg))
}

func (q pgQuerier) UseInvite(ctx context.Context, arg sqlitedb.UseInviteParams) (int64, error) {
	return q.Queries.UseInvite(ctx, pgdb.UseInviteParams(arg))
}

func (q pgQuerier) InviteByTokenHash(ctx context.Context, tokenHash string) (sqlitedb.Invite, error) {
	r, err := q.Queries.InviteByTokenHash(ctx, tokenHash)
	return sqlitedb.Invite(r), err
}

func (q pgQuerier) AppendAuditEvent(ctx context.Context, arg sqlitedb.AppendAuditEventParams) error {
	return q.Queries.AppendAuditEvent(ctx, pgdb.AppendAuditEventParams(arg))
}

func (q pgQuerier) AuditEvents(ctx context.Context, maxEvents int64) ([]sqlitedb.AuditEvent, error) {
	rs, err := q.Queries.AuditEvents(ctx, maxEvents)
	return convertAll(rs, err, func(r pgdb.AuditEvent) sqlitedb.AuditEvent { return sqlitedb.AuditEvent(r) })
}
