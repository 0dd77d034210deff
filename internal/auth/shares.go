package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/store"
)

const sharePrefix = "qvh_"

// Preview token subjects: a user, or a share link.
const (
	subjectUser  = "u:"
	subjectShare = "s:"
)

// UserSubject is the preview-token subject of a user.
func UserSubject(u store.User) string { return subjectUser + u.ID }

// ShareSubject is the preview-token subject of a share link.
func ShareSubject(sh store.Share) string { return subjectShare + sh.ID }

// CreateShare makes a read-only link to p; expires zero means never. The
// token is shown once.
func (s *Service) CreateShare(ctx context.Context, u store.User, p store.Project, expires time.Time) (string, store.Share, error) {
	now := s.now().UTC()
	if !expires.IsZero() && !expires.After(now) {
		return "", store.Share{}, &InvalidInputError{Msg: "the expiry must be in the future"}
	}
	token := sharePrefix + rand.Text()
	sh := store.Share{ID: uuid.Must(uuid.NewV7()).String(), ProjectID: p.ID, UserID: u.ID, TokenHash: hashToken(token), CreatedAt: now, ExpiresAt: expires}
	if err := s.store.CreateShare(ctx, sh); err != nil {
		return "", store.Share{}, fmt.Errorf("create share: %w", err)
	}
	return token, sh, nil
}

// RevokeShare ends a share link of p.
func (s *Service) RevokeShare(ctx context.Context, p store.Project, id string) error {
	return s.store.RevokeShare(ctx, p.ID, id, s.now().UTC())
}

// ShareByToken returns a live share link and its project; anything else
// (unknown, revoked, expired, owner disabled) is store.ErrNotFound.
func (s *Service) ShareByToken(ctx context.Context, token string) (store.Share, store.Project, error) {
	if !strings.HasPrefix(token, sharePrefix) {
		return store.Share{}, store.Project{}, store.ErrNotFound
	}
	sh, err := s.store.ShareByTokenHash(ctx, hashToken(token))
	if err != nil {
		return store.Share{}, store.Project{}, err
	}
	p, err := s.liveShareProject(ctx, sh)
	if err != nil {
		return store.Share{}, store.Project{}, err
	}
	return sh, p, nil
}

func (s *Service) liveShareProject(ctx context.Context, sh store.Share) (store.Project, error) {
	if !sh.Live(s.now()) {
		return store.Project{}, store.ErrNotFound
	}
	p, err := s.store.ProjectByID(ctx, sh.ProjectID)
	if err != nil {
		return store.Project{}, err
	}
	if _, err := s.user(ctx, p.UserID); err != nil {
		// A disabled owner's shares stop with the rest of the account.
		if errors.Is(err, ErrUnauthenticated) {
			return store.Project{}, store.ErrNotFound
		}
		return store.Project{}, err
	}
	return p, nil
}
