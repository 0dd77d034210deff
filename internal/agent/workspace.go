package agent

import (
	"context"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Workspace is what the agent's tools need of a sandbox: files and commands,
// with paths relative to the workspace root. Implementations refuse paths
// that escape it with sandbox.ErrPathEscapes and report a missing file with
// an error matching fs.ErrNotExist (or sandbox.ErrNotFound).
type Workspace interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces the file, creating parent directories.
	WriteFile(ctx context.Context, path string, data []byte) error
	DeleteFile(ctx context.Context, path string) error
	// ListFiles lists dir recursively ("" is the workspace root).
	ListFiles(ctx context.Context, dir string) ([]sandbox.FileInfo, error)
	Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error)
}

// SandboxWorkspace is the workspace of sandbox id on engine p.
func SandboxWorkspace(p sandbox.Provider, id string) Workspace {
	return sandboxWorkspace{p: p, id: id}
}

type sandboxWorkspace struct {
	p  sandbox.Provider
	id string
}

func (w sandboxWorkspace) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return w.p.ReadFile(ctx, w.id, path)
}

func (w sandboxWorkspace) WriteFile(ctx context.Context, path string, data []byte) error {
	return w.p.WriteFile(ctx, w.id, path, data)
}

func (w sandboxWorkspace) DeleteFile(ctx context.Context, path string) error {
	return w.p.DeleteFile(ctx, w.id, path)
}

func (w sandboxWorkspace) ListFiles(ctx context.Context, dir string) ([]sandbox.FileInfo, error) {
	return w.p.ListFiles(ctx, w.id, dir)
}

func (w sandboxWorkspace) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	return w.p.Exec(ctx, w.id, req)
}
