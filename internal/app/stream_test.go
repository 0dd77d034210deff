package app_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// signedIn sets up the first user on s and returns an API-token client.
// While a run is quiet the stream carries heartbeat comments, and a client
// that reconnects mid-run with Last-Event-ID gets the rest, live.
func TestStreamHeartbeatAndLiveResume(t *testing.T) {
	release := make(chan struct{})
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(req anthropictest.Request) anthropictest.Turn {
		<-release // the model "thinks" until the test lets it answer
		if len(req.Messages) == 1 {
			return anthropictest.Reply(anthropictest.WriteFile("index.html", "<p>slow</p>\n"))
		}
		return anthropictest.Reply(anthropictest.Text("done"))
	}))
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "slow", "website")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := api.Prompt(t.Context(), p.ID, "take your time")
	if err != nil {
		t.Fatal(err)
	}

	// Read the raw stream until a heartbeat shows up, noting the last id.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/runs/"+runID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+api.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	var lastID string
	sawPing := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			lastID = id
		}
		if line == ": ping" {
			sawPing = true
			break
		}
	}
	cancel()
	resp.Body.Close()
	if !sawPing {
		t.Fatal("no heartbeat comment while the run was quiet")
	}
	if lastID == "" {
		t.Fatal("no event before the heartbeat")
	}

	// Reconnect from lastID, then let the model answer: the rest arrives live.
	var after int64
	for _, r := range lastID {
		after = after*10 + int64(r-'0')
	}
	got := make(chan []client.Event, 1)
	go func() {
		var evs []client.Event
		err := api.StreamEvents(t.Context(), runID, after, func(e client.Event) error {
			evs = append(evs, e)
			return nil
		})
		if err != nil {
			t.Errorf("resume: %v", err)
		}
		got <- evs
	}()
	close(release)
	evs := <-got
	if len(evs) == 0 || evs[0].Seq != after+1 {
		t.Fatalf("resumed stream starts at %v, want seq %d", seqs(evs), after+1)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("gap or duplicate in resumed stream: %v", seqs(evs))
		}
	}
	if last := evs[len(evs)-1]; last.Type != "complete" {
		t.Errorf("resumed stream ends with %s", last.Type)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	signUp(t, s)
	// A page on a preview origin (or any other site) posting with the
	// user's cookie must be refused.
	post := func(site, origin string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/api/auth/login", strings.NewReader(`{"email":"owner@example.com","password":"correct horse battery"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", site)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("cross-site", "http://3000-abcdefghijkl.preview.localhost:8080"); code != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", code)
	}
	if code := post("same-origin", ""); code != http.StatusOK {
		t.Errorf("same-origin POST = %d, want 200", code)
	}
}

func TestPreviewOfUnknownSandbox(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	for _, host := range []string{"3000-abcdefghijkl.preview.localhost", "3000-bad_id.preview.localhost", "3000-ABCDEFGHIJKL.preview.localhost"} {
		code, body := getPreview(t, s, "http://"+host+"/")
		// Previews are private: with no token, a sandbox that does not
		// exist looks just like one that does.
		if code != http.StatusUnauthorized || !strings.Contains(body, "This preview is private") {
			t.Errorf("preview of %s = %d %q; want 401 page", host, code, body)
		}
	}
}
