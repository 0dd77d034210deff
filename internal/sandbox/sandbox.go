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
	ErrNoProcess   = errors.New("sandbox: no such process")
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
	// Restart supervises the process: whenever it exits it is started
	// again, with a growing delay while it keeps crashing.
	Restart bool
}

// ProcessStatus reports on a background process.
type ProcessStatus struct {
	Name     string
	Running  bool
	ExitCode int
	// OutputTail is the last few KiB of the process's combined output.
	OutputTail string
	// Restarts counts how often a supervised process was started again.
	Restarts int
}

// LogLine is one line of a background process's output. Seq grows by one
// per line for as long as the sandbox runs (it starts over after a stop).
// Stream is "stdout", "stderr", or "system" for the supervisor's own notes
// (exits, restarts).
type LogLine struct {
	Seq    int64
	Time   time.Time
	Stream string
	Line   string
}

// LogsRequest selects output lines of a background process.
type LogsRequest struct {
	Name string
	// After skips lines up to this sequence number.
	After int64
	// Limit keeps only the last Limit of the kept lines (0: all of them).
	Limit int
	// Follow keeps delivering new lines until ctx ends.
	Follow bool
}

// Terminal is an interactive shell on a pseudo-terminal in the workspace.
type Terminal interface {
	// Output returns the next chunk of terminal output, and io.EOF once
	// the session is over.
	Output(ctx context.Context) ([]byte, error)
	// Input sends keystrokes.
	Input(ctx context.Context, p []byte) error
	Resize(ctx context.Context, cols, rows int) error
	// Close ends the session (the shell gets a hangup).
	Close() error
}

// Usage is what a running sandbox uses right now. Source names where
// memory, CPU time and pids were read: "cgroup" (the sandbox's own
// cgroups), "procfs" (summed over its processes) or "cgroup+procfs".
type Usage struct {
	MemoryBytes int64
	CPUTime     time.Duration
	PIDs        int
	DiskBytes   int64
	Source      string
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

	// ProcessLogs calls fn with the selected output lines of a background
	// process, oldest first, until the kept lines are done or, with Follow,
	// until ctx ends. An error of fn ends it and is returned.
	ProcessLogs(ctx context.Context, id string, req LogsRequest, fn func(LogLine) error) error
	// OpenTerminal starts a shell of cols×rows in the workspace.
	OpenTerminal(ctx context.Context, id string, cols, rows int) (Terminal, error)
	// Usage reports the resources of a sandbox; DiskBytes is known for a
	// stopped sandbox too.
	Usage(ctx context.Context, id string) (Usage, error)

	// Close stops every sandbox this engine runs and releases its resources.
	Close() error
}
