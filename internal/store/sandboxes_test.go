package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/quickvibe/quickvibe/internal/store"
)

func TestSandboxes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := store.Sandbox{ID: "aaaaaaaaaaaa", ProjectID: "p1", UserID: "u1", Engine: "bwrap", State: "running", CreatedAt: t0, LastActiveAt: t0}
		b := store.Sandbox{ID: "bbbbbbbbbbbb", ProjectID: "p2", UserID: "u1", Engine: "bwrap", State: "stopped", CreatedAt: t0.Add(time.Second), LastActiveAt: t0, StoppedAt: t0}
		c := store.Sandbox{ID: "cccccccccccc", ProjectID: "p3", UserID: "u2", Engine: "bwrap", State: "running", CreatedAt: t0.Add(2 * time.Second), LastActiveAt: t0}
		for _, sb := range []store.Sandbox{a, b, c} {
			check(t, "create", s.CreateSandbox(ctx, sb))
		}
		checkErr(t, "create duplicate", s.CreateSandbox(ctx, a), store.ErrConflict)
		_, err := s.SandboxByID(ctx, "nope")
		checkErr(t, "get missing", err, store.ErrNotFound)

		opts := cmpopts.EquateEmpty()
		got, err := s.SandboxByID(ctx, a.ID)
		check(t, "get", err)
		if diff := cmp.Diff(a, got, opts); diff != "" {
			t.Errorf("SandboxByID (-want +got):\n%s", diff)
		}
		mine, err := s.SandboxesByUser(ctx, "u1")
		check(t, "by user", err)
		if len(mine) != 2 || mine[0].ID != b.ID || mine[1].ID != a.ID {
			t.Errorf("SandboxesByUser = %+v, want b then a (newest first)", mine)
		}
		all, err := s.AllSandboxes(ctx)
		check(t, "all", err)
		if len(all) != 3 || all[0].ID != a.ID || all[2].ID != c.ID {
			t.Errorf("AllSandboxes = %+v, want a, b, c", all)
		}

		// Activity only moves forward.
		check(t, "touch", s.TouchSandbox(ctx, a.ID, t0.Add(time.Hour)))
		check(t, "touch older", s.TouchSandbox(ctx, a.ID, t0.Add(time.Minute)))
		got, _ = s.SandboxByID(ctx, a.ID)
		if !got.LastActiveAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("LastActiveAt = %v, want %v", got.LastActiveAt, t0.Add(time.Hour))
		}

		stop := t0.Add(2 * time.Hour)
		check(t, "stop", s.SetSandboxState(ctx, a.ID, "stopped", stop, stop))
		got, _ = s.SandboxByID(ctx, a.ID)
		if got.State != "stopped" || !got.StoppedAt.Equal(stop) {
			t.Errorf("after stop: %+v", got)
		}
		check(t, "start", s.SetSandboxState(ctx, a.ID, "running", time.Time{}, stop))
		got, _ = s.SandboxByID(ctx, a.ID)
		if got.State != "running" || !got.StoppedAt.IsZero() {
			t.Errorf("after start: %+v", got)
		}
		checkErr(t, "state of missing", s.SetSandboxState(ctx, "nope", "running", time.Time{}, stop), store.ErrNotFound)

		procs := []store.SupervisedProcess{{Name: "devserver", Command: "qv-serve --port 3000"}}
		check(t, "processes", s.SetSandboxProcesses(ctx, a.ID, procs))
		got, _ = s.SandboxByID(ctx, a.ID)
		if diff := cmp.Diff(procs, got.Processes); diff != "" {
			t.Errorf("Processes (-want +got):\n%s", diff)
		}
		checkErr(t, "processes of missing", s.SetSandboxProcesses(ctx, "nope", procs), store.ErrNotFound)

		check(t, "delete", s.DeleteSandbox(ctx, a.ID))
		checkErr(t, "delete again", s.DeleteSandbox(ctx, a.ID), store.ErrNotFound)
		_, err = s.SandboxByID(ctx, a.ID)
		checkErr(t, "get deleted", err, store.ErrNotFound)
	})
}
