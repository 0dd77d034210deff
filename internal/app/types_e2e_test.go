package app_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// TestProjectTypeStartersPreview creates a project of each type in a real
// sandbox; the model only answers with text, so what the preview shows is
// the type's starter, served by the type's own dev command through the
// preview proxy. The run's check loads each starter in headless Chromium,
// and the model changed no files, so a starter that threw in the browser
// would end its run with an error.
func TestProjectTypeStartersPreview(t *testing.T) {
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		return anthropictest.Reply(anthropictest.Text("The starter is ready."))
	}))
	s := startServer(t, t.TempDir(), map[string]string{
		"ANTHROPIC_API_KEY":  anthropictest.APIKey,
		"ANTHROPIC_BASE_URL": model.URL(),
	})
	owner := client.New(s.url, "")
	if _, err := owner.Setup(t.Context(), "owner@example.com", "correct horse battery"); err != nil {
		t.Fatalf("setup: %v", err)
	}
	token, err := owner.CreateToken(t.Context(), "types")
	if err != nil {
		t.Fatal(err)
	}
	api := client.New(s.url, token)

	types, err := api.ProjectTypes(t.Context())
	if err != nil {
		t.Fatalf("project types: %v", err)
	}
	byID := map[string]client.ProjectType{}
	for _, pt := range types {
		if pt.Agent.Badge == "" || pt.Agent.Description == "" || pt.Emoji == "" || pt.Description == "" {
			t.Errorf("project type %+v lacks its agent badge, description or emoji", pt)
		}
		byID[pt.ID] = pt
	}

	tests := []struct {
		typ, want string
		port      int
	}{
		{"website", `<script src="script.js">`, 3000},
		{"game", `<canvas id="game"`, 3000},
		{"mobile", `rel="manifest"`, 3000},
		{"dashboard", `id="chart"`, 3000},
		{"api", "Your API", 3000},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			if _, ok := byID[tt.typ]; !ok {
				t.Fatalf("GET /api/project-types lacks %s", tt.typ)
			}
			p, err := api.CreateProject(t.Context(), "Starter "+tt.typ, tt.typ)
			if err != nil {
				t.Fatalf("create project: %v", err)
			}
			runID, err := api.Prompt(t.Context(), p.ID, "show me the starter")
			if err != nil {
				t.Fatalf("prompt: %v", err)
			}
			evs := collect(t, api, runID, 0)
			last := evs[len(evs)-1]
			if last.Type != "complete" {
				t.Fatalf("last event = %s %s, want complete", last.Type, last.Data)
			}
			var done struct{ PreviewURL string }
			if err := json.Unmarshal(last.Data, &done); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(done.PreviewURL, "://"+strconv.Itoa(tt.port)+"-") {
				t.Errorf("preview URL %s is not on port %d", done.PreviewURL, tt.port)
			}
			code, body := getPreview(t, s, done.PreviewURL)
			if code != http.StatusOK || !strings.Contains(body, tt.want) {
				t.Fatalf("preview = %d %q; want 200 with %q", code, body, tt.want)
			}
		})
	}
}

// TestReactStarterPreview installs the Vite starter's packages from the npm
// registry through the sandbox's egress proxy and serves it through the
// preview proxy.
func TestReactStarterPreview(t *testing.T) {
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		return anthropictest.Reply(anthropictest.Text("The starter is ready."))
	}))
	// Where this host's resolver sends the registry is where the operator
	// wants it reached, even when that is a mirror on a reserved address.
	addrs, err := net.DefaultResolver.LookupHost(t.Context(), "registry.npmjs.org")
	if err != nil {
		t.Fatalf("resolve the npm registry: %v", err)
	}
	s := startServer(t, t.TempDir(), map[string]string{
		"ANTHROPIC_API_KEY":  anthropictest.APIKey,
		"ANTHROPIC_BASE_URL": model.URL(),
		"QV_EGRESS_PERMIT":   strings.Join(addrs, ","),
	})
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "React", "react")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := api.Prompt(t.Context(), p.ID, "show me the starter")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	var evs []client.Event
	if err := api.StreamEvents(ctx, runID, 0, func(e client.Event) error {
		evs = append(evs, e)
		return nil
	}); err != nil {
		t.Fatalf("events: %v", err)
	}
	done := lastEvent(t, evs)
	if done.Type != "complete" || !strings.Contains(done.PreviewURL, "://5173-") {
		t.Fatalf("terminal = %+v; want complete on port 5173", done)
	}
	code, body := getPreview(t, s, done.PreviewURL)
	if code != http.StatusOK || !strings.Contains(body, `src="/src/main.tsx"`) || !strings.Contains(body, "/@vite/client") {
		t.Fatalf("preview = %d %q; want Vite's index.html", code, body)
	}
	code, body = getPreview(t, s, done.PreviewURL+"src/App.tsx")
	if code != http.StatusOK || !strings.Contains(body, "Your React app") {
		t.Errorf("App.tsx through Vite = %d %.200q; want it compiled", code, body)
	}
}
