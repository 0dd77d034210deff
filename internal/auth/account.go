package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

// InviteTTL is how long an invitation can be used.
const InviteTTL = 7 * 24 * time.Hour

const invitePrefix = "qvi_"

// Signup registers a user and signs them in. While no user exists the first
// one signs up as admin; after that only with an invitation for that email,
// or when open is set (QV_OPEN_SIGNUP).
func (s *Service) Signup(ctx context.Context, email, password, invite string, open bool) (store.User, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return store.User{}, fmt.Errorf("count users: %w", err)
	}
	switch {
	case n == 0:
		return s.Setup(ctx, email, password)
	case invite != "":
		u, err := s.newUser(email, password, false)
		if err != nil {
			return store.User{}, err
		}
		in, err := s.store.InviteByTokenHash(ctx, hashToken(invite))
		if errors.Is(err, store.ErrNotFound) || (err == nil && in.Email != u.Email) {
			return store.User{}, &InvalidInputError{Msg: "this invitation is not valid for that email"}
		}
		if err != nil {
			return store.User{}, fmt.Errorf("find invite: %w", err)
		}
		err = s.store.CreateUserWithInvite(ctx, u, hashToken(invite))
		switch {
		case errors.Is(err, store.ErrConflict):
			return store.User{}, ErrEmailTaken
		case errors.Is(err, store.ErrNotFound):
			return store.User{}, &InvalidInputError{Msg: "this invitation was already used or has expired"}
		case err != nil:
			return store.User{}, fmt.Errorf("create invited user: %w", err)
		}
		return u, nil
	case open:
		return s.AddUser(ctx, email, password, false)
	}
	return store.User{}, ErrSignupClosed
}

// CreateInvite lets email sign up; the returned token is shown once.
func (s *Service) CreateInvite(ctx context.Context, by store.User, email string) (string, store.Invite, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return "", store.Invite{}, err
	}
	token := invitePrefix + rand.Text()
	now := s.now().UTC()
	in := store.Invite{TokenHash: hashToken(token), Email: email, CreatedBy: by.ID, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := s.store.CreateInvite(ctx, in); err != nil {
		return "", store.Invite{}, fmt.Errorf("create invite: %w", err)
	}
	return token, in, nil
}

// LogoutAll ends every session of u (API tokens are revoked one by one).
func (s *Service) LogoutAll(ctx context.Context, u store.User) error {
	if err := s.store.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// APITokens lists u's API tokens.
func (s *Service) APITokens(ctx context.Context, u store.User) ([]store.APIToken, error) {
	return s.store.APITokensByUser(ctx, u.ID)
}

// RevokeAPIToken deletes u's token id; another user's token is not found.
func (s *Service) RevokeAPIToken(ctx context.Context, u store.User, id string) error {
	return s.store.DeleteAPIToken(ctx, u.ID, id)
}

// Users lists every account, for admins.
func (s *Service) Users(ctx context.Context) ([]store.User, error) {
	return s.store.ListUsers(ctx)
}

// SetDisabled disables (or enables again) the account id. Disabling ends
// its sessions; its tokens and previews are refused while it stays disabled.
// An admin cannot disable themselves, so one admin always remains.
func (s *Service) SetDisabled(ctx context.Context, admin store.User, id string, disabled bool) (store.User, error) {
	if disabled && id == admin.ID {
		return store.User{}, &InvalidInputError{Msg: "you cannot disable your own account"}
	}
	var at time.Time
	if disabled {
		at = s.now().UTC()
	}
	if err := s.store.SetUserDisabled(ctx, id, at); err != nil {
		return store.User{}, err
	}
	if disabled {
		if err := s.store.DeleteUserSessions(ctx, id); err != nil {
			return store.User{}, fmt.Errorf("end sessions of %s: %w", id, err)
		}
	}
	return s.store.UserByID(ctx, id)
}

// ensureOIDCUser finds the account of a verified email, creating it when
// registration allows (see Signup), and signs it in.
func (s *Service) ensureOIDCUser(ctx context.Context, email string, open bool) (store.User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err == nil {
		if !u.DisabledAt.IsZero() {
			return store.User{}, ErrAccountDisabled
		}
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("find user: %w", err)
	}
	// The password is random and never shown: this account signs in with
	// the identity provider only.
	password := rand.Text() + rand.Text()
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return store.User{}, fmt.Errorf("count users: %w", err)
	}
	switch {
	case n == 0:
		return s.Setup(ctx, email, password)
	case open:
		return s.AddUser(ctx, email, password, false)
	}
	return store.User{}, ErrSignupClosed
}

// SignInVerifiedEmail opens a session for the account of an email the
// identity provider verified.
func (s *Service) SignInVerifiedEmail(ctx context.Context, email string, open bool) (string, store.User, time.Time, error) {
	u, err := s.ensureOIDCUser(ctx, strings.TrimSpace(email), open)
	if err != nil {
		return "", store.User{}, time.Time{}, err
	}
	return s.openSession(ctx, u)
}
