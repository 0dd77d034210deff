package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/quickvibe/quickvibe/internal/store"
)

// PreviewPolicy answers the preview proxy's questions (preview.Policy) from
// the store, at request time, so a disabled user or a revoked share loses
// access at once even with an unexpired token.
type PreviewPolicy struct{ s *Service }

// PreviewPolicy returns the preview access rules of this service.
func (s *Service) PreviewPolicy() PreviewPolicy { return PreviewPolicy{s: s} }

// project returns the project of a sandbox whose owner is active.
func (pp PreviewPolicy) project(ctx context.Context, sandboxID string) (store.Project, bool, error) {
	p, err := pp.s.store.ProjectBySandboxID(ctx, sandboxID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, false, nil
	}
	if err != nil {
		return store.Project{}, false, err
	}
	if _, err := pp.s.user(ctx, p.UserID); err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return store.Project{}, false, nil
		}
		return store.Project{}, false, err
	}
	return p, true, nil
}

// PublicPreview reports whether the sandbox's project is public.
func (pp PreviewPolicy) PublicPreview(ctx context.Context, sandboxID string) (bool, error) {
	p, ok, err := pp.project(ctx, sandboxID)
	return ok && p.PublicPreview, err
}

// SubjectAllowed reports whether a user (who must be able to access the
// project) or a live share of the project may see the sandbox.
func (pp PreviewPolicy) SubjectAllowed(ctx context.Context, subject, sandboxID string) (bool, error) {
	p, ok, err := pp.project(ctx, sandboxID)
	if err != nil || !ok {
		return false, err
	}
	if id, found := strings.CutPrefix(subject, subjectUser); found {
		u, err := pp.s.user(ctx, id)
		if errors.Is(err, ErrUnauthenticated) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return CanAccessProject(u, p), nil
	}
	if id, found := strings.CutPrefix(subject, subjectShare); found {
		sh, err := pp.s.store.ShareByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return sh.ProjectID == p.ID && sh.Live(pp.s.now()), nil
	}
	return false, nil
}
