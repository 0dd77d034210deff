package auth

import (
	"context"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

// securityStore is what accounts, invitations, shares, previews and the
// audit log need from the store.
type securityStore interface {
	CountUsers(ctx context.Context) (int, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SetUserDisabled(ctx context.Context, id string, at time.Time) error
	DeleteUserSessions(ctx context.Context, userID string) error
	APITokensByUser(ctx context.Context, userID string) ([]store.APIToken, error)
	DeleteAPIToken(ctx context.Context, userID, id string) error
	CreateInvite(ctx context.Context, in store.Invite) error
	InviteByTokenHash(ctx context.Context, hash string) (store.Invite, error)
	CreateUserWithInvite(ctx context.Context, u store.User, inviteHash string) error

	ProjectByID(ctx context.Context, id string) (store.Project, error)
	ProjectBySandboxID(ctx context.Context, id string) (store.Project, error)
	CreateShare(ctx context.Context, sh store.Share) error
	ShareByTokenHash(ctx context.Context, hash string) (store.Share, error)
	ShareByID(ctx context.Context, id string) (store.Share, error)
	RevokeShare(ctx context.Context, projectID, id string, now time.Time) error

	AppendAuditEvent(ctx context.Context, e store.AuditEvent) error
	AuditEvents(ctx context.Context, limit int) ([]store.AuditEvent, error)
}
