package version_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
	"github.com/quickvibe/quickvibe/internal/toolbox"
	"github.com/quickvibe/quickvibe/internal/version"
)

func TestMain(m *testing.M) {
	// Sandboxes run this test binary as their toolbox.
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// files reads every regular file of a sandbox outside node_modules.
func files(t *testing.T, p sandbox.Provider, id string) map[string]string {
	t.Helper()
	list, err := p.ListFiles(t.Context(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range list {
		if f.IsDir {
			continue
		}
		data, err := p.ReadFile(t.Context(), id, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[f.Path] = string(data)
	}
	return out
}

// Snapshot and restore against a real bubblewrap sandbox: restore writes
// exactly the version's files (deleting the rest, swapping a file for a
// directory), leaves node_modules alone, and a new sandbox can be filled
// from the latest version.
func TestSnapshotRestoreAndCheckoutWithSandbox(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	p, err := bwrap.New(ctx, bwrap.Config{Dir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Ready(ctx); err != nil {
		t.Fatalf("sandbox engine not ready: %v", err)
	}
	s, err := version.New(version.Config{Dir: filepath.Join(t.TempDir(), "projects"), Sandboxes: p, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := p.WriteFile(ctx, info.ID, path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "one\n")
	write("lib", "a file named lib\n")
	write("node_modules/dep/index.js", "dependency\n")
	v1, created, err := s.Snapshot(ctx, "proj", info.ID, version.Commit{Message: "first", Kind: version.KindRun})
	if err != nil || !created {
		t.Fatalf("Snapshot = %v, %v", created, err)
	}
	if again, created, err := s.Snapshot(ctx, "proj", info.ID, version.Commit{Message: "same"}); err != nil || created || again.ID != v1.ID {
		t.Errorf("Snapshot of an unchanged workspace = %s, created %v, %v; want the same version, not created", again.ID, created, err)
	}
	fs1, err := s.Files(ctx, "proj", v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]version.File{{Path: "index.html", Size: 4}, {Path: "lib", Size: 17}}, fs1); diff != "" {
		t.Errorf("files of version 1 (node_modules left out) mismatch (-want +got):\n%s", diff)
	}

	if err := p.DeleteFile(ctx, info.ID, "lib"); err != nil {
		t.Fatal(err)
	}
	write("index.html", "two\n")
	write("lib/util.js", "util\n")
	write("extra/deep/file.txt", "extra\n")
	if _, _, err := s.Snapshot(ctx, "proj", info.ID, version.Commit{Message: "second", Kind: version.KindRun}); err != nil {
		t.Fatal(err)
	}

	r, err := s.Restore(ctx, "proj", v1.ID, info.ID, version.Commit{Message: "restore", Kind: version.KindRestore})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	want := map[string]string{"index.html": "one\n", "lib": "a file named lib\n", "node_modules/dep/index.js": "dependency\n"}
	got := files(t, p, info.ID)
	delete(got, "node_modules/dep/index.js") // ListFiles does not descend into node_modules
	if data, err := p.ReadFile(ctx, info.ID, "node_modules/dep/index.js"); err != nil {
		t.Errorf("node_modules was touched by restore: %v", err)
	} else {
		got["node_modules/dep/index.js"] = string(data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sandbox after restore mismatch (-want +got):\n%s", diff)
	}
	if list, _ := p.ListFiles(ctx, info.ID, ""); len(list) != 3 { // index.html, lib, node_modules
		t.Errorf("sandbox after restore lists %+v; want no leftover directories", list)
	}
	if vs, _ := s.List(ctx, "proj"); len(vs) != 3 || vs[0].ID != r.ID {
		t.Errorf("versions after restore = %d; want 3 with the restore on top", len(vs))
	}

	// A fresh sandbox is filled from the latest version.
	fresh, err := p.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := s.Checkout(ctx, "proj", fresh.ID)
	if err != nil || latest.ID != r.ID {
		t.Fatalf("Checkout = %s, %v; want %s", latest.ID, err, r.ID)
	}
	if diff := cmp.Diff(map[string]string{"index.html": "one\n", "lib": "a file named lib\n"}, files(t, p, fresh.ID)); diff != "" {
		t.Errorf("fresh sandbox mismatch (-want +got):\n%s", diff)
	}
}
