package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/store"
)

// Audit event names, as admins see them.
const (
	AuditSignIn        = "sign_in"
	AuditSignInFailed  = "sign_in_failed"
	AuditSignUp        = "sign_up"
	AuditSignOutAll    = "sign_out_everywhere"
	AuditTokenCreated  = "token_created"
	AuditTokenRevoked  = "token_revoked"
	AuditShareCreated  = "share_created"
	AuditShareRevoked  = "share_revoked"
	AuditPreviewPublic = "preview_visibility_changed"
	AuditUserDisabled  = "user_disabled"
	AuditUserEnabled   = "user_enabled"
	AuditInviteCreated = "invite_created"
)

// Audit records a security event. Its time and ID are filled in here.
func (s *Service) Audit(ctx context.Context, e store.AuditEvent) error {
	e.ID = uuid.Must(uuid.NewV7()).String()
	e.CreatedAt = s.now().UTC()
	if err := s.store.AppendAuditEvent(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Event, err)
	}
	return nil
}

// AuditLog returns the newest limit events.
func (s *Service) AuditLog(ctx context.Context, limit int) ([]store.AuditEvent, error) {
	return s.store.AuditEvents(ctx, limit)
}
