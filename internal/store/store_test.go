package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/quickvibe/quickvibe/internal/store"
)

// t0 is a time with whole milliseconds, which survives a round trip exactly.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkErr fails the test unless err matches want (nil means no error).
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("%s: error = %v, want %v", what, err, want)
	}
}

// Fixtures.

func addUser(t *testing.T, s *store.Store, id string) store.User {
	t.Helper()
	u := store.User{ID: id, Email: id + "@example.com", PasswordHash: "hash-" + id, CreatedAt: t0}
	check(t, "create user", s.CreateUser(t.Context(), u))
	return u
}

func addProject(t *testing.T, s *store.Store, id, userID string, created time.Time) store.Project {
	t.Helper()
	p := store.Project{ID: id, UserID: userID, Name: "Project " + id, Type: "web", Status: "idle", CreatedAt: created, UpdatedAt: created}
	check(t, "create project", s.CreateProject(t.Context(), p))
	return p
}

func addRun(t *testing.T, s *store.Store, id, projectID, userID string, created time.Time) store.Run {
	t.Helper()
	r := store.Run{ID: id, ProjectID: projectID, UserID: userID, Prompt: "build " + id, Status: "running", CreatedAt: created}
	check(t, "create run", s.CreateRun(t.Context(), r))
	return r
}

func TestUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := store.User{ID: "u1", Email: "Alice@Example.com", PasswordHash: "h1", IsAdmin: true, CreatedAt: t0}
		bob := store.User{ID: "u2", Email: "bob@example.com", PasswordHash: "h2", CreatedAt: t0.Add(time.Second)}
		umlaut := store.User{ID: "u3", Email: "Ülrich@Example.com", PasswordHash: "h3", CreatedAt: t0}
		for _, u := range []store.User{alice, bob, umlaut} {
			check(t, "create user", s.CreateUser(ctx, u))
		}

		for _, tc := range []struct {
			name string
			u    store.User
		}{
			{"same id", store.User{ID: "u1", Email: "other@example.com", CreatedAt: t0}},
			{"same email", store.User{ID: "u9", Email: "Alice@Example.com", CreatedAt: t0}},
			{"same email lower case", store.User{ID: "u9", Email: "alice@example.com", CreatedAt: t0}},
			{"same email upper case", store.User{ID: "u9", Email: "BOB@EXAMPLE.COM", CreatedAt: t0}},
			{"same email non-ascii case", store.User{ID: "u9", Email: "üLRICH@example.com", CreatedAt: t0}},
		} {
			checkErr(t, "CreateUser "+tc.name, s.CreateUser(ctx, tc.u), store.ErrConflict)
		}

		n, err := s.CountUsers(ctx)
		check(t, "CountUsers", err)
		if n != 3 {
			t.Errorf("CountUsers() = %d, want 3", n)
		}

		for _, tc := range []struct {
			name    string
			get     func() (store.User, error)
			want    store.User
			wantErr error
		}{
			{"by id", func() (store.User, error) { return s.UserByID(ctx, "u1") }, alice, nil},
			{"by email as stored", func() (store.User, error) { return s.UserByEmail(ctx, "Alice@Example.com") }, alice, nil},
			{"by email lower case", func() (store.User, error) { return s.UserByEmail(ctx, "alice@example.com") }, alice, nil},
			{"by email upper case", func() (store.User, error) { return s.UserByEmail(ctx, "BOB@EXAMPLE.COM") }, bob, nil},
			{"by email non-ascii", func() (store.User, error) { return s.UserByEmail(ctx, "üLRICH@EXAMPLE.COM") }, umlaut, nil},
			{"unknown id", func() (store.User, error) { return s.UserByID(ctx, "nope") }, store.User{}, store.ErrNotFound},
			{"unknown email", func() (store.User, error) { return s.UserByEmail(ctx, "nobody@example.com") }, store.User{}, store.ErrNotFound},
		} {
			got, err := tc.get()
			checkErr(t, tc.name, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: user mismatch (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

func TestCreateFirstUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		first := store.User{ID: "u1", Email: "admin@example.com", PasswordHash: "h", IsAdmin: true, CreatedAt: t0}
		check(t, "CreateFirstUser", s.CreateFirstUser(ctx, first))
		got, err := s.UserByID(ctx, "u1")
		check(t, "UserByID", err)
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("first user mismatch (-want +got):\n%s", diff)
		}

		second := store.User{ID: "u2", Email: "second@example.com", CreatedAt: t0}
		checkErr(t, "second CreateFirstUser", s.CreateFirstUser(ctx, second), store.ErrConflict)
		_, err = s.UserByID(ctx, "u2")
		checkErr(t, "UserByID(second)", err, store.ErrNotFound)
		// CreateUser is not restricted.
		check(t, "CreateUser", s.CreateUser(ctx, second))
	})
}

func TestCreateFirstUserConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		const goroutines, rounds = 8, 5
		for round := range rounds {
			errs := make([]error, goroutines)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					<-start
					u := store.User{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i), CreatedAt: t0}
					errs[i] = s.CreateFirstUser(t.Context(), u)
				})
			}
			close(start)
			wg.Wait()

			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Errorf("round %d: CreateFirstUser #%d and #%d both succeeded", round, winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("round %d: CreateFirstUser #%d: %v, want nil or ErrConflict", round, i, err)
				}
			}
			count, err := s.CountUsers(t.Context())
			check(t, "CountUsers", err)
			if winner < 0 || count != 1 {
				t.Fatalf("round %d: %d users after concurrent CreateFirstUser (winner #%d), want exactly 1", round, count, winner)
			}
			// Start over with no users.
			check(t, "DeleteUser", s.DeleteUser(t.Context(), fmt.Sprintf("u%d", winner)))
		}
	})
}

func TestSessions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		live := store.Session{TokenHash: "live", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		expired := store.Session{TokenHash: "expired", UserID: "u1", CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Millisecond)}
		expiresNow := store.Session{TokenHash: "expires-now", UserID: "u1", CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0}
		for _, sess := range []store.Session{live, expired, expiresNow} {
			check(t, "CreateSession", s.CreateSession(ctx, sess))
		}
		checkErr(t, "CreateSession with a taken hash", s.CreateSession(ctx, store.Session{TokenHash: "live", UserID: "u1", CreatedAt: t0, ExpiresAt: t0}), store.ErrConflict)
		checkErr(t, "CreateSession for an unknown user", s.CreateSession(ctx, store.Session{TokenHash: "x", UserID: "nope", CreatedAt: t0, ExpiresAt: t0}), store.ErrNotFound)

		lookup := func(want map[string]store.Session) {
			t.Helper()
			for _, hash := range []string{"live", "expired", "expires-now", "unknown"} {
				got, err := s.SessionByTokenHash(ctx, hash)
				w, ok := want[hash]
				if !ok {
					checkErr(t, "SessionByTokenHash("+hash+")", err, store.ErrNotFound)
					continue
				}
				checkErr(t, "SessionByTokenHash("+hash+")", err, nil)
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("SessionByTokenHash(%s) mismatch (-want +got):\n%s", hash, diff)
				}
			}
		}
		lookup(map[string]store.Session{"live": live, "expired": expired, "expires-now": expiresNow})

		check(t, "DeleteExpiredSessions", s.DeleteExpiredSessions(ctx, t0))
		lookup(map[string]store.Session{"live": live})

		check(t, "DeleteSession", s.DeleteSession(ctx, "live"))
		lookup(nil)
		check(t, "DeleteSession again", s.DeleteSession(ctx, "live"))
	})
}

func TestAPITokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		tok := store.APIToken{ID: "t1", UserID: "u1", Name: "laptop", TokenHash: "hash1", CreatedAt: t0}
		check(t, "CreateAPIToken", s.CreateAPIToken(ctx, tok))

		for _, tc := range []struct {
			name    string
			tok     store.APIToken
			wantErr error
		}{
			{"taken id", store.APIToken{ID: "t1", UserID: "u1", TokenHash: "hash2", CreatedAt: t0}, store.ErrConflict},
			{"taken hash", store.APIToken{ID: "t2", UserID: "u1", TokenHash: "hash1", CreatedAt: t0}, store.ErrConflict},
			{"unknown user", store.APIToken{ID: "t3", UserID: "nope", TokenHash: "hash3", CreatedAt: t0}, store.ErrNotFound},
		} {
			checkErr(t, "CreateAPIToken "+tc.name, s.CreateAPIToken(ctx, tc.tok), tc.wantErr)
		}

		got, err := s.APITokenByHash(ctx, "hash1")
		check(t, "APITokenByHash", err)
		if diff := cmp.Diff(tok, got); diff != "" {
			t.Errorf("APITokenByHash mismatch (-want +got):\n%s", diff)
		}
		_, err = s.APITokenByHash(ctx, "unknown")
		checkErr(t, "APITokenByHash(unknown)", err, store.ErrNotFound)
	})
}

func TestProjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		addUser(t, s, "u2")
		p1 := addProject(t, s, "p1", "u1", t0)
		p2 := addProject(t, s, "p2", "u1", t0.Add(time.Hour))
		p3 := addProject(t, s, "p3", "u2", t0.Add(30*time.Minute))
		p4 := addProject(t, s, "p4", "u1", t0.Add(time.Hour)) // same time as p2: ties go by ID, descending

		checkErr(t, "CreateProject with a taken id", s.CreateProject(ctx, store.Project{ID: "p1", UserID: "u2", CreatedAt: t0, UpdatedAt: t0}), store.ErrConflict)
		checkErr(t, "CreateProject for an unknown user", s.CreateProject(ctx, store.Project{ID: "p9", UserID: "nope", CreatedAt: t0, UpdatedAt: t0}), store.ErrNotFound)

		for _, tc := range []struct {
			userID string
			want   []store.Project
		}{
			{"u1", []store.Project{p4, p2, p1}},
			{"u2", []store.Project{p3}},
			{"nobody", []store.Project{}},
		} {
			got, err := s.ProjectsByUser(ctx, tc.userID)
			check(t, "ProjectsByUser", err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ProjectsByUser(%s) mismatch (-want +got):\n%s", tc.userID, diff)
			}
		}

		got, err := s.ProjectByID(ctx, "p3")
		check(t, "ProjectByID", err)
		if diff := cmp.Diff(p3, got); diff != "" {
			t.Errorf("ProjectByID mismatch (-want +got):\n%s", diff)
		}
		_, err = s.ProjectByID(ctx, "nope")
		checkErr(t, "ProjectByID(nope)", err, store.ErrNotFound)

		for _, tc := range []struct {
			name   string
			set    func(id string) error
			modify func(p *store.Project)
		}{
			{"SetProjectSandbox", func(id string) error { return s.SetProjectSandbox(ctx, id, "sb-1") }, func(p *store.Project) { p.SandboxID = "sb-1" }},
			{"SetProjectStatus", func(id string) error { return s.SetProjectStatus(ctx, id, "running") }, func(p *store.Project) { p.Status = "running" }},
		} {
			before := time.Now().Truncate(time.Millisecond)
			check(t, tc.name, tc.set("p1"))
			after := time.Now()
			got, err := s.ProjectByID(ctx, "p1")
			check(t, "ProjectByID", err)
			tc.modify(&p1)
			if diff := cmp.Diff(p1, got, cmpopts.IgnoreFields(store.Project{}, "UpdatedAt")); diff != "" {
				t.Errorf("after %s: project mismatch (-want +got):\n%s", tc.name, diff)
			}
			if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
				t.Errorf("after %s: UpdatedAt = %v, want between %v and %v", tc.name, got.UpdatedAt, before, after)
			}
			p1.UpdatedAt = got.UpdatedAt
			checkErr(t, tc.name+"(nope)", tc.set("nope"), store.ErrNotFound)
		}
	})
}

func TestRuns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		addProject(t, s, "p1", "u1", t0)
		addProject(t, s, "p2", "u1", t0)
		addProject(t, s, "p3", "u1", t0)
		r1 := addRun(t, s, "r1", "p1", "u1", t0)
		r2 := addRun(t, s, "r2", "p2", "u1", t0.Add(time.Second))
		// A run can also be recorded as already finished.
		done := store.Run{ID: "r0", ProjectID: "p1", UserID: "u1", Prompt: "old", Status: "cancelled", ErrorCode: "cancelled", ErrorMessage: "by user", CreatedAt: t0.Add(-time.Hour), FinishedAt: t0.Add(-time.Minute)}
		check(t, "CreateRun finished", s.CreateRun(ctx, done))

		for _, tc := range []struct {
			name    string
			run     store.Run
			wantErr error
		}{
			{"taken id", store.Run{ID: "r1", ProjectID: "p3", UserID: "u1", Status: "running", CreatedAt: t0}, store.ErrConflict},
			{"second running run of a project", store.Run{ID: "r9", ProjectID: "p1", UserID: "u1", Status: "running", CreatedAt: t0}, store.ErrConflict},
			{"unknown project", store.Run{ID: "r9", ProjectID: "nope", UserID: "u1", Status: "running", CreatedAt: t0}, store.ErrNotFound},
			{"unknown user", store.Run{ID: "r9", ProjectID: "p3", UserID: "nope", Status: "running", CreatedAt: t0}, store.ErrNotFound},
		} {
			checkErr(t, "CreateRun "+tc.name, s.CreateRun(ctx, tc.run), tc.wantErr)
		}

		getRun := func(id string, want store.Run) {
			t.Helper()
			got, err := s.RunByID(ctx, id)
			check(t, "RunByID", err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RunByID(%s) mismatch (-want +got):\n%s", id, diff)
			}
		}
		getRun("r1", r1)
		getRun("r0", done)
		_, err := s.RunByID(ctx, "nope")
		checkErr(t, "RunByID(nope)", err, store.ErrNotFound)

		running, err := s.RunningRuns(ctx)
		check(t, "RunningRuns", err)
		if diff := cmp.Diff([]store.Run{r1, r2}, running); diff != "" {
			t.Errorf("RunningRuns mismatch (-want +got):\n%s", diff)
		}
		active, err := s.ActiveRunForProject(ctx, "p1")
		check(t, "ActiveRunForProject", err)
		if diff := cmp.Diff(r1, active); diff != "" {
			t.Errorf("ActiveRunForProject mismatch (-want +got):\n%s", diff)
		}
		_, err = s.ActiveRunForProject(ctx, "p3")
		checkErr(t, "ActiveRunForProject(p3)", err, store.ErrNotFound)

		finished := t0.Add(time.Minute)
		for _, tc := range []struct {
			name    string
			id      string
			status  string
			wantErr error
		}{
			{"running run", "r1", "failed", nil},
			{"twice", "r1", "succeeded", store.ErrConflict},
			{"run finished at creation", "r0", "failed", store.ErrConflict},
			{"unknown run", "nope", "failed", store.ErrNotFound},
		} {
			checkErr(t, "FinishRun "+tc.name, s.FinishRun(ctx, tc.id, tc.status, "sandbox_error", "boom", finished), tc.wantErr)
		}
		if err := s.FinishRun(ctx, "r2", "running", "", "", finished); err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("FinishRun to status running: error = %v, want a plain error", err)
		}

		r1.Status, r1.ErrorCode, r1.ErrorMessage, r1.FinishedAt = "failed", "sandbox_error", "boom", finished
		getRun("r1", r1)
		getRun("r0", done)

		running, err = s.RunningRuns(ctx)
		check(t, "RunningRuns", err)
		if diff := cmp.Diff([]store.Run{r2}, running); diff != "" {
			t.Errorf("RunningRuns after FinishRun mismatch (-want +got):\n%s", diff)
		}
		_, err = s.ActiveRunForProject(ctx, "p1")
		checkErr(t, "ActiveRunForProject(p1) after FinishRun", err, store.ErrNotFound)

		// The project can run again, and a zero finish time means now.
		addRun(t, s, "r3", "p1", "u1", t0.Add(2*time.Minute))
		before := time.Now().Truncate(time.Millisecond)
		check(t, "FinishRun r3", s.FinishRun(ctx, "r3", "succeeded", "", "", time.Time{}))
		got, err := s.RunByID(ctx, "r3")
		check(t, "RunByID", err)
		if got.FinishedAt.Before(before) || got.FinishedAt.After(time.Now()) {
			t.Errorf("FinishedAt = %v, want about now", got.FinishedAt)
		}
	})
}

func TestEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		addProject(t, s, "p1", "u1", t0)
		addProject(t, s, "p2", "u1", t0)
		addRun(t, s, "r1", "p1", "u1", t0)
		addRun(t, s, "r2", "p2", "u1", t0)

		var events []store.Event
		for seq := int64(1); seq <= 5; seq++ {
			events = append(events, store.Event{
				RunID:     "r1",
				Seq:       seq,
				Type:      "message",
				Data:      fmt.Appendf(nil, `{"n":%d}`, seq),
				CreatedAt: t0.Add(time.Duration(seq) * time.Millisecond),
			})
		}
		// Insert out of order; reads are by Seq.
		for _, i := range []int{1, 0, 2, 4, 3} {
			check(t, "AppendEvent", s.AppendEvent(ctx, events[i]))
		}
		other := store.Event{RunID: "r2", Seq: 1, Type: "status", Data: []byte(`"x"`), CreatedAt: t0}
		check(t, "AppendEvent", s.AppendEvent(ctx, other))

		for _, tc := range []struct {
			name    string
			event   store.Event
			wantErr error
		}{
			{"taken seq", store.Event{RunID: "r1", Seq: 3, Type: "message", Data: []byte("{}"), CreatedAt: t0}, store.ErrConflict},
			{"unknown run", store.Event{RunID: "nope", Seq: 1, Type: "message", Data: []byte("{}"), CreatedAt: t0}, store.ErrNotFound},
		} {
			checkErr(t, "AppendEvent "+tc.name, s.AppendEvent(ctx, tc.event), tc.wantErr)
		}
		if err := s.AppendEvent(ctx, store.Event{RunID: "r2", Seq: 0, Type: "message", CreatedAt: t0}); err == nil {
			t.Error("AppendEvent with Seq 0 succeeded, want an error")
		}

		for _, tc := range []struct {
			runID    string
			afterSeq int64
			limit    int
			want     []store.Event
		}{
			{"r1", 0, 2, events[0:2]},
			{"r1", 2, 2, events[2:4]},
			{"r1", 4, 2, events[4:5]},
			{"r1", 5, 2, []store.Event{}},
			{"r1", 0, 0, events},
			{"r1", 3, -1, events[3:]},
			{"r2", 0, 10, []store.Event{other}},
			{"nope", 0, 10, []store.Event{}},
		} {
			got, err := s.EventsAfter(ctx, tc.runID, tc.afterSeq, tc.limit)
			check(t, "EventsAfter", err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("EventsAfter(%s, %d, %d) mismatch (-want +got):\n%s", tc.runID, tc.afterSeq, tc.limit, diff)
			}
		}

		for _, tc := range []struct {
			runID string
			want  int64
		}{
			{"r1", 5},
			{"r2", 1},
			{"nope", 0},
		} {
			got, err := s.LastEventSeq(ctx, tc.runID)
			check(t, "LastEventSeq", err)
			if got != tc.want {
				t.Errorf("LastEventSeq(%s) = %d, want %d", tc.runID, got, tc.want)
			}
		}

		// Empty data comes back as nil.
		check(t, "AppendEvent nil data", s.AppendEvent(ctx, store.Event{RunID: "r2", Seq: 2, Type: "ping", CreatedAt: t0}))
		check(t, "AppendEvent empty data", s.AppendEvent(ctx, store.Event{RunID: "r2", Seq: 3, Type: "ping", Data: []byte{}, CreatedAt: t0}))
		got, err := s.EventsAfter(ctx, "r2", 1, 0)
		check(t, "EventsAfter", err)
		want := []store.Event{{RunID: "r2", Seq: 2, Type: "ping", CreatedAt: t0}, {RunID: "r2", Seq: 3, Type: "ping", CreatedAt: t0}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events with empty data mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestCascadeDelete(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, u := range []string{"u1", "u2"} {
			addUser(t, s, u)
			check(t, "CreateSession", s.CreateSession(ctx, store.Session{TokenHash: "sess-" + u, UserID: u, CreatedAt: t0, ExpiresAt: t0}))
			check(t, "CreateAPIToken", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-" + u, UserID: u, TokenHash: "tok-" + u, CreatedAt: t0}))
			for _, p := range []string{"a", "b"} {
				id := u + p
				addProject(t, s, "p-"+id, u, t0)
				addRun(t, s, "r-"+id, "p-"+id, u, t0)
				check(t, "AppendEvent", s.AppendEvent(ctx, store.Event{RunID: "r-" + id, Seq: 1, Type: "x", Data: []byte("{}"), CreatedAt: t0}))
			}
		}

		// exists reports which of the rows of user u and project suffix p
		// are still there.
		exists := func(u, p string) string {
			var have []string
			if _, err := s.UserByID(ctx, u); err == nil {
				have = append(have, "user")
			}
			if _, err := s.SessionByTokenHash(ctx, "sess-"+u); err == nil {
				have = append(have, "session")
			}
			if _, err := s.APITokenByHash(ctx, "tok-"+u); err == nil {
				have = append(have, "token")
			}
			if _, err := s.ProjectByID(ctx, "p-"+u+p); err == nil {
				have = append(have, "project")
			}
			if _, err := s.RunByID(ctx, "r-"+u+p); err == nil {
				have = append(have, "run")
			}
			if seq, err := s.LastEventSeq(ctx, "r-"+u+p); err == nil && seq > 0 {
				have = append(have, "event")
			}
			return strings.Join(have, ",")
		}

		check(t, "DeleteProject", s.DeleteProject(ctx, "p-u1a"))
		checkErr(t, "DeleteProject again", s.DeleteProject(ctx, "p-u1a"), store.ErrNotFound)
		check(t, "DeleteUser", s.DeleteUser(ctx, "u2"))
		checkErr(t, "DeleteUser again", s.DeleteUser(ctx, "u2"), store.ErrNotFound)

		for _, tc := range []struct {
			user, project string
			want          string
		}{
			{"u1", "a", "user,session,token"},
			{"u1", "b", "user,session,token,project,run,event"},
			{"u2", "a", ""},
			{"u2", "b", ""},
		} {
			if got := exists(tc.user, tc.project); got != tc.want {
				t.Errorf("after deleting: rows of %s/%s = %q, want %q", tc.user, tc.project, got, tc.want)
			}
		}
	})
}

func TestTimeRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "owner")
		addProject(t, s, "p", "owner", t0)
		now := time.Now()
		for i, tc := range []struct {
			name string
			in   time.Time
			want time.Time
		}{
			{"utc millisecond", t0, t0},
			{"sub-millisecond is truncated", time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 123_000_000, time.UTC)},
			{"other zone comes back in utc", time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("X", 5*3600+1800)), time.Date(2026, 1, 1, 21, 34, 5, 6_000_000, time.UTC)},
			{"local time with monotonic reading", now, time.UnixMilli(now.UnixMilli()).UTC()},
			{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999_500_000, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
			{"far future", time.Date(2262, 4, 11, 0, 0, 0, 1_000_000, time.UTC), time.Date(2262, 4, 11, 0, 0, 0, 1_000_000, time.UTC)},
			{"zero", time.Time{}, time.Time{}},
		} {
			id := fmt.Sprintf("r%d", i)
			run := store.Run{ID: id, ProjectID: "p", UserID: "owner", Status: "failed", CreatedAt: tc.in, FinishedAt: tc.in}
			check(t, "CreateRun", s.CreateRun(ctx, run))
			got, err := s.RunByID(ctx, id)
			check(t, "RunByID", err)
			for _, f := range []struct {
				field string
				got   time.Time
			}{{"CreatedAt", got.CreatedAt}, {"FinishedAt", got.FinishedAt}} {
				if !f.got.Equal(tc.want) {
					t.Errorf("%s: %s = %v, want %v", tc.name, f.field, f.got, tc.want)
				}
				if f.got.Location() != time.UTC {
					t.Errorf("%s: %s is in %v, want UTC", tc.name, f.field, f.got.Location())
				}
				if f.got != tc.want {
					t.Errorf("%s: %s = %#v, want == %#v", tc.name, f.field, f.got, tc.want)
				}
			}
		}
	})
}

func TestReopen(t *testing.T) {
	for _, e := range []struct {
		name string
		open func(context.Context, string) (*store.Store, error)
		dsn  func(t *testing.T) string
	}{
		{store.EngineSQLite, store.OpenSQLite, func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "new", "dir", "quickvibe.db")
		}},
		{store.EnginePostgres, store.OpenPostgres, pgSchemaDSN},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := e.dsn(t)
			s, err := e.open(ctx, dsn)
			check(t, "open", err)
			u := addUser(t, s, "u1")
			check(t, "close", s.Close())

			// Reopen several times at once: the migrations are already
			// applied, and nothing is lost.
			stores := make([]*store.Store, 3)
			errs := make([]error, len(stores))
			var wg sync.WaitGroup
			for i := range stores {
				wg.Go(func() { stores[i], errs[i] = e.open(ctx, dsn) })
			}
			wg.Wait()
			for i, s := range stores {
				check(t, "reopen", errs[i])
				if s.Engine() != e.name {
					t.Errorf("Engine() = %q, want %q", s.Engine(), e.name)
				}
				got, err := s.UserByID(ctx, "u1")
				check(t, "UserByID", err)
				if diff := cmp.Diff(u, got); diff != "" {
					t.Errorf("user after reopen mismatch (-want +got):\n%s", diff)
				}
				n, err := s.CountUsers(ctx)
				check(t, "CountUsers", err)
				if n != 1 {
					t.Errorf("CountUsers() after reopen = %d, want 1", n)
				}
				check(t, "close", s.Close())
			}
		})
	}
}

func TestSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "quickvibe.db")
	s := openStore(t, store.Open, path)
	if got := s.Engine(); got != store.EngineSQLite {
		t.Errorf("Open(%q).Engine() = %q, want %q", path, got, store.EngineSQLite)
	}
	fi, err := os.Stat(path)
	check(t, "stat", err)
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %v, want 0600", mode)
	}

	for _, bad := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
		if s, err := store.OpenSQLite(t.Context(), bad); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded, want an error", bad)
		}
	}
}

func TestOpenPostgresURL(t *testing.T) {
	dsn := pgSchemaDSN(t)
	_, rest, isURL := strings.Cut(dsn, "://")
	if !isURL {
		t.Logf("TEST_POSTGRES_DSN is not a URL; Open's choice by URL prefix is not checked")
		return
	}
	for _, prefix := range []string{"postgres://", "postgresql://"} {
		s := openStore(t, store.Open, prefix+rest)
		if got := s.Engine(); got != store.EnginePostgres {
			t.Errorf("Open(%s...).Engine() = %q, want %q", prefix, got, store.EnginePostgres)
		}
	}
}

func TestOpenPostgresFreshConcurrently(t *testing.T) {
	dsn := pgSchemaDSN(t)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			s, err := store.OpenPostgres(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		check(t, "OpenPostgres", err)
	}
}
