// Package auth owns accounts, sign-in sessions, API tokens and the rule of
// who may see which resource.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/store"
)

// Domain errors; httpapi maps them to statuses.
var (
	ErrInvalidCredentials = errors.New("auth: wrong email or password")
	ErrUnauthenticated    = errors.New("auth: not signed in")
	ErrSetupDone          = errors.New("auth: setup is already done")
	ErrEmailTaken         = errors.New("auth: email already registered")
	ErrAccountDisabled    = errors.New("auth: account disabled")
	ErrSignupClosed       = errors.New("auth: registration is closed")
	ErrForbidden          = errors.New("auth: not allowed")
)

// InvalidInputError says which input was wrong, in words safe for users.
type InvalidInputError struct{ Msg string }

func (e *InvalidInputError) Error() string { return e.Msg }

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// Token prefixes tell a session from an API token at a glance (and in leaks).
const (
	sessionPrefix  = "qvs_"
	apiTokenPrefix = "qvt_"
)

// Store is what auth needs from the store.
type Store interface {
	CreateUser(ctx context.Context, u store.User) error
	CreateFirstUser(ctx context.Context, u store.User) error
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	CreateSession(ctx context.Context, s store.Session) error
	SessionByTokenHash(ctx context.Context, hash string) (store.Session, error)
	DeleteSession(ctx context.Context, hash string) error
	CreateAPIToken(ctx context.Context, t store.APIToken) error
	APITokenByHash(ctx context.Context, hash string) (store.APIToken, error)
	securityStore
}

// Service signs users in and out.
type Service struct {
	store      Store
	sessionTTL time.Duration
	now        func() time.Time
	// dummyHash makes a login for an unknown email cost as much as a real one,
	// so timing does not tell which emails exist.
	dummyHash string
}

func NewService(s Store, sessionTTL time.Duration) (*Service, error) {
	dummy, err := HashPassword("not a real password")
	if err != nil {
		return nil, err
	}
	return &Service{store: s, sessionTTL: sessionTTL, now: time.Now, dummyHash: dummy}, nil
}

func normalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email, "@") {
		return "", &InvalidInputError{Msg: "a valid email address is required"}
	}
	return email, nil
}

func (s *Service) newUser(email, password string, admin bool) (store.User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	if len(password) < MinPasswordLength {
		return store.User{}, &InvalidInputError{Msg: fmt.Sprintf("the password must have at least %d characters", MinPasswordLength)}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: uuid.Must(uuid.NewV7()).String(), Email: email, PasswordHash: hash, IsAdmin: admin, CreatedAt: s.now().UTC()}, nil
}

// Setup creates the first user, an admin, while no user exists.
func (s *Service) Setup(ctx context.Context, email, password string) (store.User, error) {
	u, err := s.newUser(email, password, true)
	if err != nil {
		return store.User{}, err
	}
	if err := s.store.CreateFirstUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrSetupDone
		}
		return store.User{}, fmt.Errorf("create first user: %w", err)
	}
	return u, nil
}

// AddUser creates a user (from the command line or, later, an admin).
func (s *Service) AddUser(ctx context.Context, email, password string, admin bool) (store.User, error) {
	u, err := s.newUser(email, password, admin)
	if err != nil {
		return store.User{}, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// Login checks a password and opens a session; the returned token goes into
// the session cookie and is never stored.
func (s *Service) Login(ctx context.Context, email, password string) (token string, u store.User, expires time.Time, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err = s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		_, _ = CheckPassword(s.dummyHash, password)
		return "", store.User{}, time.Time{}, ErrInvalidCredentials
	}
	if err != nil {
		return "", store.User{}, time.Time{}, fmt.Errorf("find user: %w", err)
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return "", store.User{}, time.Time{}, fmt.Errorf("check password of %s: %w", u.ID, err)
	}
	if !ok {
		return "", store.User{}, time.Time{}, ErrInvalidCredentials
	}
	if !u.DisabledAt.IsZero() {
		return "", store.User{}, time.Time{}, ErrAccountDisabled
	}
	return s.openSession(ctx, u)
}

// openSession signs u in with a new session.
func (s *Service) openSession(ctx context.Context, u store.User) (token string, _ store.User, expires time.Time, err error) {
	token = sessionPrefix + rand.Text()
	now := s.now().UTC()
	expires = now.Add(s.sessionTTL)
	if err := s.store.CreateSession(ctx, store.Session{TokenHash: hashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: expires}); err != nil {
		return "", store.User{}, time.Time{}, fmt.Errorf("create session: %w", err)
	}
	return token, u, expires, nil
}

// Logout ends the session of token; an unknown token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if err := s.store.DeleteSession(ctx, hashToken(token)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateAPIToken makes a named bearer token for u; the token is shown once.
func (s *Service) CreateAPIToken(ctx context.Context, u store.User, name string) (string, store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", store.APIToken{}, &InvalidInputError{Msg: "a token name of 1 to 100 characters is required"}
	}
	token := apiTokenPrefix + rand.Text()
	t := store.APIToken{ID: uuid.Must(uuid.NewV7()).String(), UserID: u.ID, Name: name, TokenHash: hashToken(token), CreatedAt: s.now().UTC()}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return "", store.APIToken{}, fmt.Errorf("create api token: %w", err)
	}
	return token, t, nil
}

// SessionUser returns the user of a live session token.
func (s *Service) SessionUser(ctx context.Context, token string) (store.User, error) {
	if !strings.HasPrefix(token, sessionPrefix) {
		return store.User{}, ErrUnauthenticated
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUnauthenticated
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return store.User{}, ErrUnauthenticated
	}
	return s.user(ctx, sess.UserID)
}

// TokenUser returns the user of an API token.
func (s *Service) TokenUser(ctx context.Context, token string) (store.User, error) {
	if !strings.HasPrefix(token, apiTokenPrefix) {
		return store.User{}, ErrUnauthenticated
	}
	t, err := s.store.APITokenByHash(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUnauthenticated
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find api token: %w", err)
	}
	return s.user(ctx, t.UserID)
}

func (s *Service) user(ctx context.Context, id string) (store.User, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUnauthenticated
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find user %s: %w", id, err)
	}
	// A disabled account's sessions and tokens stop working at once.
	if !u.DisabledAt.IsZero() {
		return store.User{}, ErrUnauthenticated
	}
	return u, nil
}

// CanAccessProject is the one rule of who sees a project: its owner.
func CanAccessProject(u store.User, p store.Project) bool {
	return u.ID != "" && p.UserID == u.ID
}

// CanAccessRun applies the same rule to a run.
func CanAccessRun(u store.User, r store.Run) bool {
	return u.ID != "" && r.UserID == u.ID
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
