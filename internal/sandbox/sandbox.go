// Package sandbox defines what QuickVibe needs from a sandbox engine. Engines
// (local bubblewrap, Daytona) live in sub-packages and know nothing of agents
// or HTTP.
package sandbox

import (
	"context"
	"errors"
	"net"
	"time"
)

// Domain errors. Engines wrap them so callers can use errors.Is.
var (
	ErrNotFound    = errors.New("sandbox: not found")
	ErrNotRunning  = errors.New("sandbox: not running")
	ErrPathEscapes = errors.New("sandbox: path escapes the workspace")
	ErrIsDirectory = errors.New("sandbox: path is a directory")
	ErrFileTooBig  = errors.New("sandbox: file too large")
)

// State is where a sandbox is in its lifecycle.
type State string

const (
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// Spec describes a sandbox to create.
type Spec struct {
	// Labels name the owner (project, user) for listing and reaping.
	Labels map[string]string
}

// Info is what an engine knows about one sandbox.
type Info struct {
	ID        string
	State     State
	Labels    map[string]string
	CreatedAt time.Time
}

// ExecRequest runs one shell command (sh -c) in the workspace and waits for it.
type ExecRequest struct {
	Command string
	// Timeout bounds the command's wall-clock time; zero means the engine default.
	Timeout time.Duration
}

// ExecResult is the outcome of a finished command. Output is stdout and
// stderr interleaved, capped by the engine (Truncated says so).
type ExecResult struct {
	ExitCode  int
	Output    string
	TimedOut  bool
	Truncated bool
}

// ProcessRequest starts a long-running background process, such as a dev
// server. Starting a process under a name that is already running replaces it.
type ProcessRequest struct {
	Name    string
	Command string
}

// ProcessStatus reports on a background process.
type ProcessStatus struct {
	Name     string
	Running  bool
	ExitCode int
	// OutputTail is the last few KiB of the process's combined output.
	OutputTail string
}

// FileInfo describes one entry of the workspace. Path is slash-separated and
// relative to the workspace root.
type FileInfo struct {
	Path    string
	Size    int64
	IsDir   bool
	ModTime time.Time
}

// Provider is a sandbox engine. Every path argument is relative to the
// workspace root; engines refuse paths that escape it with ErrPathEscapes.
type Provider interface {
	// Name is the engine's name as shown to users ("bwrap", "daytona").
	Name() string
	// Ready reports whether the engine can create sandboxes on this host, and
	// if not, why.
	Ready(ctx context.Context) error

	// Create makes a new sandbox and starts it.
	Create(ctx context.Context, spec Spec) (Info, error)
	// Start resumes a stopped sandbox with its workspace intact. Starting a
	// running sandbox is a no-op.
	Start(ctx context.Context, id string) error
	// Stop ends every process of the sandbox and keeps its workspace.
	Stop(ctx context.Context, id string) error
	// Delete stops the sandbox and removes its workspace.
	Delete(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (Info, error)
	List(ctx context.Context) ([]Info, error)

	Exec(ctx context.Context, id string, req ExecRequest) (ExecResult, error)
	StartProcess(ctx context.Context, id string, req ProcessRequest) error
	Process(ctx context.Context, id, name string) (ProcessStatus, error)

	ReadFile(ctx context.Context, id, path string) ([]byte, error)
	// WriteFile replaces the file atomically, creating parent directories.
	WriteFile(ctx context.Context, id, path string, data []byte) error
	DeleteFile(ctx context.Context, id, path string) error
	// ListFiles lists dir recursively ("" or "." is the workspace root).
	ListFiles(ctx context.Context, id, dir string) ([]FileInfo, error)

	// DialPort connects to a TCP port the sandbox listens on (its own
	// loopback included), for the preview proxy.
	DialPort(ctx context.Context, id string, port int) (net.Conn, error)

	// Close stops every sandbox this engine runs and releases its resources.
	Close() error
}
