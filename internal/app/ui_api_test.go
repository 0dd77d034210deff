package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// uiCall sends a request as c's user and returns the status and body.
func uiCall(t *testing.T, c *client.Client, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, c.BaseURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestProjectRenameRunsThumbnailDelete(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", calculatorHTML)),
		anthropictest.Reply(anthropictest.Text("Ready.")),
	)
	s := startUIServer(t, model)
	ctx := t.Context()
	owner := client.New(s.url, "")
	if _, err := owner.Setup(ctx, "owner@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	p, err := owner.CreateProject(ctx, "Calculator", "website")
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + p.ID

	// No runs yet: an empty list, not null.
	if code, body := uiCall(t, owner, "GET", base+"/runs", nil); code != 200 || strings.TrimSpace(string(body)) != `{"runs":[]}` {
		t.Fatalf("runs of a new project = %d %s", code, body)
	}
	runID, err := owner.Prompt(ctx, p.ID, "a calculator")
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, owner, runID, 0)
	if last := evs[len(evs)-1]; last.Type != "complete" {
		t.Fatalf("run ended with %s %s", last.Type, last.Data)
	}

	code, body := uiCall(t, owner, "GET", base+"/runs", nil)
	var runs struct {
		Runs []struct{ ID, Prompt, Status string }
	}
	if err := json.Unmarshal(body, &runs); err != nil || code != 200 {
		t.Fatalf("runs = %d %s (%v)", code, body, err)
	}
	if len(runs.Runs) != 1 || runs.Runs[0].ID != runID || runs.Runs[0].Prompt != "a calculator" || runs.Runs[0].Status != "succeeded" {
		t.Errorf("runs = %+v; want the one succeeded run %s", runs.Runs, runID)
	}

	// The thumbnail is taken after the complete event; wait for it.
	var shot []byte
	for deadline := time.Now().Add(60 * time.Second); ; {
		code, body := uiCall(t, owner, "GET", base+"/thumbnail.png", nil)
		if code == 200 {
			shot = body
			break
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("thumbnail = %d %s", code, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("thumbnail is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 800 {
		t.Errorf("thumbnail is %dx%d, want 1280x800", b.Dx(), b.Dy())
	}
	got, err := owner.Project(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, body = uiCall(t, owner, "GET", base, nil)
	if !strings.Contains(string(body), `"thumbnailUrl":"/api/projects/`+p.ID+`/thumbnail.png?v=`) {
		t.Errorf("project JSON has no thumbnailUrl: %s", body)
	}

	if _, err := os.Stat(filepath.Join(s.dataDir, "projects", p.ID)); err != nil {
		t.Fatalf("the run left no version history: %v", err)
	}

	// The screenshot is stored with the version the run recorded too (it is
	// written before the project's, so it is there by now), and is the same
	// picture; a version of another project's id is not found.
	var complete struct {
		VersionID string `json:"versionId"`
	}
	if err := json.Unmarshal(evs[len(evs)-1].Data, &complete); err != nil || complete.VersionID == "" {
		t.Fatalf("complete event %s has no versionId (%v)", evs[len(evs)-1].Data, err)
	}
	versionThumb := base + "/versions/" + complete.VersionID + "/thumbnail.png"
	if code, body := uiCall(t, owner, "GET", versionThumb, nil); code != 200 || !bytes.Equal(body, shot) {
		t.Errorf("the run's version thumbnail = %d (%d bytes), want 200 and the project's thumbnail (%d bytes)", code, len(body), len(shot))
	}
	if code, body := uiCall(t, owner, "GET", base+"/versions/0000000000000000000000000000000000000000/thumbnail.png", nil); code != 404 {
		t.Errorf("thumbnail of an unknown version = %d %s, want 404", code, body)
	}

	// Rename: bad names are refused, a good one is stored.
	for _, bad := range []string{"", "   ", strings.Repeat("x", 101)} {
		if code, body := uiCall(t, owner, "PATCH", base, map[string]string{"name": bad}); code != 400 {
			t.Errorf("rename to %q = %d %s, want 400", bad, code, body)
		}
	}
	if code, body := uiCall(t, owner, "PATCH", base, map[string]string{"name": "  Pocket Calculator "}); code != 200 || !strings.Contains(string(body), `"name":"Pocket Calculator"`) {
		t.Fatalf("rename = %d %s", code, body)
	}
	if renamed, err := owner.Project(ctx, p.ID); err != nil || renamed.Name != "Pocket Calculator" {
		t.Errorf("project after rename = %+v, %v", renamed, err)
	}

	// Another user gets 404 on every one of these routes.
	if _, err := s.app.Auth.AddUser(ctx, "other@example.com", "other password", false); err != nil {
		t.Fatal(err)
	}
	other := client.New(s.url, "")
	if _, err := other.Login(ctx, "other@example.com", "other password"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", base, map[string]string{"name": "mine now"}},
		{"DELETE", base, nil},
		{"GET", base + "/runs", nil},
		{"GET", base + "/thumbnail.png", nil},
		{"GET", versionThumb, nil},
	} {
		if code, body := uiCall(t, other, c.method, c.path, c.body); code != 404 {
			t.Errorf("other user's %s %s = %d %s, want 404", c.method, c.path, code, body)
		}
	}

	// Delete removes the project, its sandbox and its thumbnail.
	if code, body := uiCall(t, owner, "DELETE", base, nil); code != 204 {
		t.Fatalf("delete = %d %s", code, body)
	}
	if _, err := owner.Project(ctx, p.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("project after delete: err = %v, want 404", err)
	}
	if _, err := s.app.Sandboxes().Get(ctx, got.SandboxID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("sandbox %s after delete: err = %v, want not found", got.SandboxID, err)
	}
	if code, _ := uiCall(t, owner, "GET", base+"/thumbnail.png", nil); code != 404 {
		t.Errorf("thumbnail after delete = %d, want 404", code)
	}
	for _, leftover := range []string{
		filepath.Join(s.dataDir, "projects", p.ID),
		filepath.Join(s.dataDir, "thumbnails", p.ID+".png"),
		filepath.Join(s.dataDir, "thumbnails", p.ID),
	} {
		if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after delete: err = %v, want it gone", leftover, err)
		}
	}
	if code, _ := uiCall(t, owner, "DELETE", base, nil); code != 404 {
		t.Errorf("second delete = %d, want 404", code)
	}
}
