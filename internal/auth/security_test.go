package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadSecret(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file = %v, %v; want mode 0600", fi, err)
	}
	b, err := LoadSecret(dir, "")
	if err != nil || string(a) != string(b) || len(a) < 32 {
		t.Errorf("second load = %q, %v; want the same secret of 32+ bytes", b, err)
	}
	if c, _ := LoadSecret(dir, "configured-secret-configured-secret"); string(c) != "configured-secret-configured-secret" {
		t.Errorf("configured secret ignored: %q", c)
	}
}

func TestDisabledAccountAndPreviewPolicy(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	st := svc.store.(*store.Store)
	admin, err := svc.Setup(ctx, "admin@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.AddUser(ctx, "u@example.com", "password123", false)
	if err != nil {
		t.Fatal(err)
	}
	p := store.Project{ID: "p1", UserID: u.ID, Name: "p", Type: "website", Status: "idle", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := st.SetProjectSandbox(ctx, p.ID, "sbx"); err != nil {
		t.Fatal(err)
	}
	pol := svc.PreviewPolicy()
	allowed := func(subject string) bool {
		ok, err := pol.SubjectAllowed(ctx, subject, "sbx")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !allowed(UserSubject(u)) || allowed(UserSubject(admin)) || allowed("u:nobody") || allowed("x:"+u.ID) {
		t.Error("preview policy: only the owner should be allowed")
	}
	_, sh, err := svc.CreateShare(ctx, u, p, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !allowed(ShareSubject(sh)) {
		t.Error("live share refused")
	}
	token, _, _, err := svc.Login(ctx, "u@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetDisabled(ctx, admin, admin.ID, true); err == nil {
		t.Error("an admin disabled themselves")
	}
	if _, err := svc.SetDisabled(ctx, admin, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SessionUser(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("disabled user's session = %v", err)
	}
	if _, _, _, err := svc.Login(ctx, "u@example.com", "password123"); !errors.Is(err, ErrAccountDisabled) {
		t.Errorf("disabled user's login = %v", err)
	}
	if allowed(UserSubject(u)) || allowed(ShareSubject(sh)) {
		t.Error("a disabled user's previews and shares still open")
	}
	if _, err := svc.SetDisabled(ctx, admin, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if !allowed(UserSubject(u)) {
		t.Error("re-enabled user refused")
	}
	if err := svc.RevokeShare(ctx, p, sh.ID); err != nil {
		t.Fatal(err)
	}
	if allowed(ShareSubject(sh)) {
		t.Error("revoked share allowed")
	}
}
