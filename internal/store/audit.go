package store

import (
	"context"
	"time"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// AuditEvent is one security event (sign-in, token revoked, user disabled…).
type AuditEvent struct {
	ID         string
	CreatedAt  time.Time
	Event      string
	ActorID    string // the user who acted, if known
	Subject    string // what it was done to: a user, project, share or token ID, or an email
	RemoteAddr string
	Detail     string
}

// AppendAuditEvent records e.
func (s *Store) AppendAuditEvent(ctx context.Context, e AuditEvent) error {
	err := s.q.AppendAuditEvent(ctx, sqlitedb.AppendAuditEventParams{
		ID: e.ID, CreatedAt: toMillis(e.CreatedAt), Event: e.Event, ActorID: e.ActorID,
		Subject: e.Subject, RemoteAddr: e.RemoteAddr, Detail: e.Detail,
	})
	return wrap(err, "append audit event %s", e.Event)
}

// AuditEvents returns up to limit events, newest first.
func (s *Store) AuditEvents(ctx context.Context, limit int) ([]AuditEvent, error) {
	rs, err := s.q.AuditEvents(ctx, int64(limit))
	if err != nil {
		return nil, wrap(err, "audit events")
	}
	out := make([]AuditEvent, len(rs))
	for i, r := range rs {
		out[i] = AuditEvent{
			ID: r.ID, CreatedAt: fromMillis(r.CreatedAt), Event: r.Event, ActorID: r.ActorID,
			Subject: r.Subject, RemoteAddr: r.RemoteAddr, Detail: r.Detail,
		}
	}
	return out, nil
}
