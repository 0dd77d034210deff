package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/store"
)

func TestDisabledUsersAndUsage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := addUser(t, s, "u1")
		addUser(t, s, "u2")
		p := addProject(t, s, "p1", u.ID, t0)
		addRun(t, s, "r1", p.ID, u.ID, t0)

		check(t, "disable", s.SetUserDisabled(ctx, u.ID, t0.Add(time.Hour)))
		got, err := s.UserByID(ctx, u.ID)
		check(t, "user", err)
		if !got.DisabledAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("DisabledAt = %v", got.DisabledAt)
		}
		check(t, "enable", s.SetUserDisabled(ctx, u.ID, time.Time{}))
		got, _ = s.UserByID(ctx, u.ID)
		if !got.DisabledAt.IsZero() {
			t.Errorf("DisabledAt after enabling = %v", got.DisabledAt)
		}
		checkErr(t, "disable unknown", s.SetUserDisabled(ctx, "nobody", t0), store.ErrNotFound)

		users, err := s.ListUsers(ctx)
		check(t, "list users", err)
		if len(users) != 2 {
			t.Errorf("users = %+v", users)
		}
		usage, err := s.UsageByUser(ctx)
		check(t, "usage", err)
		if diff := cmp.Diff(map[string]store.Usage{"u1": {Projects: 1, Runs: 1}}, usage); diff != "" {
			t.Errorf("usage (-want +got):\n%s", diff)
		}
		n, err := s.CountRunningRunsByUser(ctx, u.ID)
		check(t, "count running", err)
		if n != 1 {
			t.Errorf("running runs = %d, want 1", n)
		}

		check(t, "set sandbox", s.SetProjectSandbox(ctx, p.ID, "sbx1"))
		check(t, "public", s.SetProjectPublicPreview(ctx, p.ID, true, t0))
		bySandbox, err := s.ProjectBySandboxID(ctx, "sbx1")
		check(t, "project by sandbox", err)
		if bySandbox.ID != p.ID || !bySandbox.PublicPreview {
			t.Errorf("project by sandbox = %+v", bySandbox)
		}
		_, err = s.ProjectBySandboxID(ctx, "")
		checkErr(t, "project of no sandbox", err, store.ErrNotFound)

		check(t, "token", s.CreateAPIToken(ctx, store.APIToken{ID: "t1", UserID: u.ID, Name: "ci", TokenHash: "h1", CreatedAt: t0}))
		checkErr(t, "delete another user's token", s.DeleteAPIToken(ctx, "u2", "t1"), store.ErrNotFound)
		check(t, "delete token", s.DeleteAPIToken(ctx, u.ID, "t1"))
		check(t, "session", s.CreateSession(ctx, store.Session{TokenHash: "s1", UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		check(t, "end sessions", s.DeleteUserSessions(ctx, u.ID))
		_, err = s.SessionByTokenHash(ctx, "s1")
		checkErr(t, "session after ending all", err, store.ErrNotFound)
	})
}

func TestSharesInvitesAndAudit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := addUser(t, s, "u1")
		p := addProject(t, s, "p1", u.ID, t0)

		sh := store.Share{ID: "sh1", ProjectID: p.ID, UserID: u.ID, TokenHash: "th1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		check(t, "create share", s.CreateShare(ctx, sh))
		got, err := s.ShareByTokenHash(ctx, "th1")
		check(t, "share by token", err)
		if diff := cmp.Diff(sh, got); diff != "" {
			t.Errorf("share (-want +got):\n%s", diff)
		}
		if !got.Live(t0) || got.Live(t0.Add(time.Hour)) {
			t.Error("Live ignores the expiry")
		}
		checkErr(t, "revoke in another project", s.RevokeShare(ctx, "p2", "sh1", t0), store.ErrNotFound)
		check(t, "revoke", s.RevokeShare(ctx, p.ID, "sh1", t0.Add(time.Minute)))
		checkErr(t, "revoke twice", s.RevokeShare(ctx, p.ID, "sh1", t0), store.ErrNotFound)
		got, _ = s.ShareByID(ctx, "sh1")
		if got.Live(t0) {
			t.Error("revoked share is live")
		}
		list, err := s.SharesByProject(ctx, p.ID)
		check(t, "list shares", err)
		if len(list) != 1 {
			t.Errorf("shares = %+v", list)
		}

		in := store.Invite{TokenHash: "ih", Email: "new@example.com", CreatedBy: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		check(t, "create invite", s.CreateInvite(ctx, in))
		nu := store.User{ID: "u2", Email: "new@example.com", PasswordHash: "x", CreatedAt: t0.Add(time.Minute)}
		check(t, "invited user", s.CreateUserWithInvite(ctx, nu, "ih"))
		nu.ID, nu.Email = "u3", "other@example.com"
		checkErr(t, "reused invite", s.CreateUserWithInvite(ctx, nu, "ih"), store.ErrNotFound)
		if _, err := s.UserByID(ctx, "u3"); err == nil {
			t.Error("a reused invite created a user")
		}
		check(t, "create invite 2", s.CreateInvite(ctx, store.Invite{TokenHash: "ih2", Email: "x@example.com", CreatedBy: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		nu.CreatedAt = t0.Add(2 * time.Hour)
		checkErr(t, "expired invite", s.CreateUserWithInvite(ctx, nu, "ih2"), store.ErrNotFound)

		for i, ev := range []string{"sign_in", "user_disabled"} {
			check(t, "audit", s.AppendAuditEvent(ctx, store.AuditEvent{ID: ev, CreatedAt: t0.Add(time.Duration(i) * time.Second), Event: ev, ActorID: u.ID}))
		}
		evs, err := s.AuditEvents(ctx, 1)
		check(t, "audit events", err)
		if len(evs) != 1 || evs[0].Event != "user_disabled" {
			t.Errorf("newest audit event = %+v", evs)
		}
	})
}
