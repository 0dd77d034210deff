package run

import (
	"context"
	"fmt"

	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/store"
)

// writeStarter fills a new, empty sandbox with its project type's starter
// files, so the preview works before the model has written anything. A
// sandbox that already has files (restored from a version) is left alone.
func (m *Manager) writeStarter(ctx context.Context, p store.Project, sandboxID string) error {
	files, err := project.Starter(p.Type)
	if err != nil || len(files) == 0 {
		return err
	}
	existing, err := m.sandboxes.ListFiles(ctx, sandboxID, "")
	if err != nil {
		return fail(events.CodeSandbox, "The sandbox's files could not be listed: "+safeSandboxReason(err), err)
	}
	if len(existing) > 0 {
		return nil
	}
	for _, path := range project.StarterPaths(files) {
		if err := m.sandboxes.WriteFile(ctx, sandboxID, path, files[path]); err != nil {
			return fail(events.CodeSandbox, fmt.Sprintf("The starter file %s could not be written: %s", path, safeSandboxReason(err)), err)
		}
	}
	return nil
}
