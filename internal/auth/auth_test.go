package auth

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

func newService(t *testing.T) *Service {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, err := NewService(s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id with the chosen parameters", h)
	}
	if ok, err := CheckPassword(h, "s3cret-pass"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := CheckPassword(h, "s3cret-pasS"); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	h2, _ := HashPassword("s3cret-pass")
	if h2 == h {
		t.Error("two hashes of one password are equal: salt not random")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=1,t=1,p=1$!!$a2V5"} {
		if _, err := CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword(%q) accepted a malformed hash", bad)
		}
	}
}

func TestSetupLoginAndTokens(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()

	tests := []struct {
		email, password string
	}{
		{"not-an-email", "password123"},
		{"a@example.com", "short"},
		{"Name <a@example.com>", "password123"},
	}
	for _, tt := range tests {
		var ie *InvalidInputError
		if _, err := svc.Setup(ctx, tt.email, tt.password); !errors.As(err, &ie) {
			t.Errorf("Setup(%q, %q) = %v, want InvalidInputError", tt.email, tt.password, err)
		}
	}

	admin, err := svc.Setup(ctx, " Admin@Example.com ", "password123")
	if err != nil {
		t.Fatal(err)
	}
	if !admin.IsAdmin || admin.Email != "admin@example.com" {
		t.Errorf("first user = %+v; want admin with normalized email", admin)
	}
	if _, err := svc.Setup(ctx, "b@example.com", "password123"); !errors.Is(err, ErrSetupDone) {
		t.Errorf("second Setup = %v, want ErrSetupDone", err)
	}
	if _, err := svc.AddUser(ctx, "ADMIN@example.com", "password123", false); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("AddUser with a taken email = %v, want ErrEmailTaken", err)
	}

	if _, _, _, err := svc.Login(ctx, "admin@example.com", "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login with wrong password = %v", err)
	}
	if _, _, _, err := svc.Login(ctx, "nobody@example.com", "password123"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login of unknown user = %v", err)
	}
	token, u, expires, err := svc.Login(ctx, "ADMIN@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != admin.ID || time.Until(expires) < 59*time.Minute {
		t.Errorf("login = %+v expiring %v", u, expires)
	}
	if got, err := svc.SessionUser(ctx, token); err != nil || got.ID != admin.ID {
		t.Errorf("SessionUser = %+v, %v", got, err)
	}
	// A session token is not an API token and vice versa.
	if _, err := svc.TokenUser(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("TokenUser(session token) = %v, want ErrUnauthenticated", err)
	}

	api, _, err := svc.CreateAPIToken(ctx, u, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.TokenUser(ctx, api); err != nil || got.ID != admin.ID {
		t.Errorf("TokenUser = %+v, %v", got, err)
	}
	if _, err := svc.SessionUser(ctx, api); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("SessionUser(api token) = %v", err)
	}
	if _, _, err := svc.CreateAPIToken(ctx, u, "  "); err == nil {
		t.Error("CreateAPIToken with a blank name succeeded")
	}

	if err := svc.Logout(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SessionUser(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("SessionUser after logout = %v", err)
	}
}

func TestSessionExpires(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	if _, err := svc.Setup(ctx, "a@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := svc.Login(ctx, "a@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	svc.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := svc.SessionUser(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired session = %v, want ErrUnauthenticated", err)
	}
}

func TestCanAccessProject(t *testing.T) {
	owner := store.User{ID: "u1"}
	other := store.User{ID: "u2", IsAdmin: true}
	p := store.Project{ID: "p", UserID: "u1"}
	if !CanAccessProject(owner, p) {
		t.Error("owner denied")
	}
	if CanAccessProject(other, p) {
		t.Error("another user allowed")
	}
	if CanAccessProject(store.User{}, store.Project{}) {
		t.Error("empty user allowed on an ownerless project")
	}
}
