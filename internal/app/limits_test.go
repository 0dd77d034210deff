package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/app"
	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func retryAfter(t *testing.T, h http.Header) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("Retry-After = %q; want a positive number of seconds", h.Get("Retry-After"))
	}
	return n
}

// Failed sign-ins are throttled per account and per address with 429 and
// Retry-After, until the window passes.
func TestLoginThrottle(t *testing.T) {
	clock := &testClock{t: time.Now()}
	s := startServerWith(t, t.TempDir(), nil, app.Options{Now: clock.Now})
	signUp(t, s)
	for _, email := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := s.app.Auth.AddUser(t.Context(), email, "password123", false); err != nil {
			t.Fatal(err)
		}
	}
	login := func(email, password string) (int, http.Header) {
		t.Helper()
		code, h, _ := request(t, s, "", http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password}, nil)
		return code, h
	}
	for i := range 5 {
		if code, _ := login("alice@example.com", "wrong password"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, code)
		}
	}
	// Now even the right password waits: guessing cannot go on.
	code, h := login("ALICE@example.com", "password123")
	if code != http.StatusTooManyRequests {
		t.Fatalf("sign-in after 5 failures = %d, want 429", code)
	}
	if secs := retryAfter(t, h); secs > 15*60 {
		t.Errorf("Retry-After = %d s; want at most the 15 min window", secs)
	}
	// Another account from the same address is not locked by alice's.
	if code, _ := login("bob@example.com", "password123"); code != http.StatusOK {
		t.Errorf("bob's sign-in = %d, want 200", code)
	}
	clock.Advance(15*time.Minute + time.Second)
	if code, _ := login("alice@example.com", "password123"); code != http.StatusOK {
		t.Errorf("sign-in after the window = %d, want 200", code)
	}

	// One address trying many accounts is throttled too.
	for i := range 30 {
		if code, _ := login("nobody"+strconv.Itoa(i)+"@example.com", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, code)
		}
	}
	if code, h := login("bob@example.com", "password123"); code != http.StatusTooManyRequests {
		t.Errorf("sign-in from a throttled address = %d, want 429", code)
	} else {
		retryAfter(t, h)
	}

	events, err := signedInAdmin(t, s).Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events {
		if e.Event == "sign_in_failed" {
			failed++
		}
	}
	if failed != 35 {
		t.Errorf("audit has %d failed sign-ins, want 35", failed)
	}
}

// signedInAdmin returns an API client of the admin signedIn created.
func signedInAdmin(t *testing.T, s *server) *client.Client {
	t.Helper()
	u, err := s.app.Store.UserByEmail(t.Context(), "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := s.app.Auth.CreateAPIToken(t.Context(), u, "audit")
	if err != nil {
		t.Fatal(err)
	}
	return client.New(s.url, token)
}

// Prompts over a user's limits (runs at once, sandboxes at once, prompts a
// minute) answer 429 with Retry-After.
func TestPromptLimits(t *testing.T) {
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(req anthropictest.Request) anthropictest.Turn {
		last := req.Messages[len(req.Messages)-1]
		for _, c := range last.Content {
			if c.Type == "tool_result" {
				return anthropictest.Reply(anthropictest.Text("done"))
			}
		}
		if strings.Contains(last.Content[len(last.Content)-1].Text, "slow") {
			return anthropictest.Reply(anthropictest.RunCommand("sleep 60", 90))
		}
		return anthropictest.Reply(anthropictest.WriteFile("index.html", "<h1>hi</h1>\n"))
	}))
	s := startServer(t, t.TempDir(), map[string]string{
		"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL(),
		"QV_MAX_RUNS_PER_USER": "1", "QV_MAX_SANDBOXES_PER_USER": "1", "QV_RATE_PROMPTS_PER_MINUTE": "3",
	})
	ctx := t.Context()
	signUp(t, s)
	alice, _ := member(t, s, "alice@example.com", false)
	a, err := alice.CreateProject(ctx, "A", "website")
	if err != nil {
		t.Fatal(err)
	}
	b, err := alice.CreateProject(ctx, "B", "website")
	if err != nil {
		t.Fatal(err)
	}
	prompt := func(projectID, text string) (int, http.Header, string) {
		t.Helper()
		return request(t, s, alice.Token, http.MethodPost, "/api/projects/"+projectID+"/prompts", map[string]string{"prompt": text}, nil)
	}
	refused := func(projectID, code string) {
		t.Helper()
		status, h, body := prompt(projectID, "refused")
		if status != http.StatusTooManyRequests || !strings.Contains(body, code) {
			t.Fatalf("prompt = %d %s; want 429 %s", status, body, code)
		}
		retryAfter(t, h)
	}

	// 1st prompt: a run that keeps going, in a new sandbox.
	status, _, body := prompt(a.ID, "slow")
	if status != http.StatusAccepted {
		t.Fatalf("first prompt = %d %s", status, body)
	}
	var slow struct{ RunID string }
	mustDecode(t, body, &slow)
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := alice.Project(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.SandboxState == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run's sandbox never started: %+v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	refused(b.ID, "too_many_runs")
	if err := alice.CancelRun(ctx, slow.RunID); err != nil {
		t.Fatal(err)
	}
	collect(t, alice, slow.RunID, 0)

	// A's sandbox still runs: B may not start a second one, A may go on.
	refused(b.ID, "too_many_sandboxes")
	for _, text := range []string{"second", "third"} {
		runID, _ := runPrompt(t, alice, a.ID, text)
		if runID == "" {
			t.Fatal("no run")
		}
	}
	// Three prompts this minute: the fourth waits.
	refused(a.ID, "rate_limited")
	// Another user is not limited by alice's use.
	bob, _ := member(t, s, "bob@example.com", false)
	pb, err := bob.CreateProject(ctx, "Bob's", "website")
	if err != nil {
		t.Fatal(err)
	}
	runPrompt(t, bob, pb.ID, "bob's page")
}
