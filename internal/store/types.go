package store

import (
	"errors"
	"time"
)

// Domain errors of the store. Callers test them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
)

type User struct {
	ID           string
	Email        string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	DisabledAt   time.Time // zero unless an admin disabled the account
}

// Session is a browser sign-in; only the SHA-256 of its token is stored.
type Session struct {
	TokenHash string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a named bearer token; only the SHA-256 of the token is stored.
type APIToken struct {
	ID        string
	UserID    string
	Name      string
	TokenHash string
	CreatedAt time.Time
}

type Project struct {
	ID        string
	UserID    string
	Name      string
	Type      string
	SandboxID string // empty until the first run creates one
	Status    string // idle, running, ready, error
	CreatedAt time.Time
	UpdatedAt time.Time
	// PublicPreview lets anyone open the preview (set by the owner).
	PublicPreview bool
	// Model is the model id the project's runs use; empty means the
	// server's default (SetProjectModel).
	Model string
}

type Run struct {
	ID           string
	ProjectID    string
	UserID       string
	Prompt       string
	Status       string // running, succeeded, failed, cancelled, interrupted
	ErrorCode    string
	ErrorMessage string
	CreatedAt    time.Time
	FinishedAt   time.Time // zero while running
}

// Event is one entry of a run's append-only event log. Seq starts at 1 and
// increases by one per run.
type Event struct {
	RunID     string
	Seq       int64
	Type      string
	Data      []byte // JSON
	CreatedAt time.Time
}
