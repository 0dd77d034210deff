package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/httpapi"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// pageModel is a model double that answers every prompt by writing
// index.html with the prompt's text in it, then saying it is done.
func pageModel(t *testing.T) *anthropictest.Server {
	t.Helper()
	return anthropictest.NewServer(t, anthropictest.WithResponder(func(req anthropictest.Request) anthropictest.Turn {
		last := req.Messages[len(req.Messages)-1]
		for _, c := range last.Content {
			if c.Type == "tool_result" {
				return anthropictest.Reply(anthropictest.Text("done"))
			}
		}
		text := ""
		if len(last.Content) > 0 {
			text = last.Content[len(last.Content)-1].Text
		}
		return anthropictest.Reply(anthropictest.WriteFile("index.html", "<h1>"+text+"</h1>\n"))
	}))
}

// member adds a user through the service (as `quickvibe users add` would)
// and returns an API-token client for it.
func member(t *testing.T, s *server, email string, admin bool) (*client.Client, string) {
	t.Helper()
	u, err := s.app.Auth.AddUser(t.Context(), email, "password123", admin)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.url, "")
	if _, err := c.Login(t.Context(), email, "password123"); err != nil {
		t.Fatal(err)
	}
	token, err := c.CreateToken(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return client.New(s.url, token), u.ID
}

// runPrompt runs one prompt to a successful end and returns the sandbox ID.
func runPrompt(t *testing.T, c *client.Client, projectID, text string) (runID, sandboxID string) {
	t.Helper()
	var last client.Event
	runID, err := c.PromptStream(t.Context(), projectID, text, func(e client.Event) error {
		last = e
		return nil
	})
	if err != nil {
		t.Fatalf("prompt %q: %v", text, err)
	}
	var done struct {
		Success   bool
		SandboxID string
	}
	if err := json.Unmarshal(last.Data, &done); err != nil || last.Type != "complete" || !done.Success {
		t.Fatalf("prompt %q ended with %s %s", text, last.Type, last.Data)
	}
	return runID, done.SandboxID
}

// request makes one request with a bearer token ("" for none) and returns
// the status, headers and body.
func request(t *testing.T, s *server, token, method, path string, body any, header http.Header) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	// Event streams stay open: the status and headers are what matter.
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatalf("%s %s: read body: %v", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}

// noRedirect shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type httpapiRoute = httpapi.Route

func mustDecode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
