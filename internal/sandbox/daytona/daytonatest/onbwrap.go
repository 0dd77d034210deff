package daytonatest

import (
	"log/slog"
	"testing"

	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
)

// OnBwrap starts a fake Daytona whose sandboxes run on a real bwrap engine
// in a temporary directory; both stop when t ends. The test binary must
// call toolbox.DispatchIfToolbox in TestMain: bwrap sandboxes run it as
// their toolbox.
func OnBwrap(t testing.TB, opts Options) *Server {
	t.Helper()
	backend, err := bwrap.New(t.Context(), bwrap.Config{
		Dir:    t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	if err := backend.Ready(t.Context()); err != nil {
		t.Fatalf("bwrap is not ready: %v", err)
	}
	opts.Backend = backend
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
