package app

import (
	"context"
	"fmt"

	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/store"
)

// screenshotAfterRun returns the run hook that photographs a project's
// preview after each successful run, for its dashboard card and for the
// version the run recorded.
func screenshotAfterRun(th *screenshot.Thumbnails) func(ctx context.Context, p store.Project, sandboxID, versionID string) error {
	return func(ctx context.Context, p store.Project, sandboxID, versionID string) error {
		pt, ok := project.Lookup(p.Type)
		if !ok {
			return fmt.Errorf("thumbnail of project %s: unknown project type %q", p.ID, p.Type)
		}
		return th.Capture(ctx, p.ID, versionID, sandboxID, pt.Port)
	}
}
