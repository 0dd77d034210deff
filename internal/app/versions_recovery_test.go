package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

// A deleted sandbox comes back from the latest version, with a file saved
// while it was gone; while a run is in progress, restore and save answer 409.
func TestDeletedSandboxIsRecreatedFromLatestVersion(t *testing.T) {
	release := make(chan struct{})
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		return anthropictest.Reply(anthropictest.Text("Nothing to change."))
	}))
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageOne), anthropictest.WriteFile("js/app.js", "console.log(1)\n")),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	api := signUp(t, s)
	ctx := t.Context()
	p, err := api.CreateProject(ctx, "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + p.ID
	_, first := prompt(t, api, p.ID, "make a page")

	if err := s.app.Sandboxes().Delete(ctx, first.SandboxID); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.Project(ctx, p.ID); got.SandboxState != "deleted" {
		t.Fatalf("sandbox state = %q, want deleted", got.SandboxState)
	}
	// Saving without a sandbox still makes a version.
	code, body, _ := call(t, s, api, http.MethodPut, base+"/files/notes.txt", "text/plain", strings.NewReader("keep me\n"))
	if code != http.StatusOK {
		t.Fatalf("PUT file without a sandbox = %d %s", code, body)
	}
	var saved struct{ VersionID string }
	json.Unmarshal(body, &saved)

	runID, err := api.Prompt(ctx, p.ID, "look around")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, base + "/versions/" + first.VersionID + "/restore"},
		{http.MethodPut, base + "/files/index.html"},
	} {
		code, body, _ := call(t, s, api, r.method, r.path, "text/plain", strings.NewReader("x"))
		if code != http.StatusConflict || !strings.Contains(string(body), "in progress") {
			t.Errorf("%s %s during a run = %d %s; want 409", r.method, r.path, code, body)
		}
	}
	close(release)
	evs := collect(t, api, runID, 0)
	last := evs[len(evs)-1]
	var done struct {
		VersionID, SandboxID, PreviewURL string
	}
	json.Unmarshal(last.Data, &done)
	if last.Type != "complete" || done.SandboxID == first.SandboxID || done.VersionID != saved.VersionID {
		t.Fatalf("second run ended %s %s; want complete in a new sandbox at version %s", last.Type, last.Data, saved.VersionID)
	}
	var restoredMsg bool
	for _, e := range evs {
		restoredMsg = restoredMsg || (e.Type == "progress" && strings.Contains(string(e.Data), "Restored the files of the latest version"))
	}
	if !restoredMsg {
		t.Error("no progress event saying the files were restored")
	}
	want := withStarter(t, map[string]string{"index.html": pageOne, "js/app.js": "console.log(1)\n", "notes.txt": "keep me\n"})
	if diff := cmp.Diff(want, workspace(t, api, p.ID)); diff != "" {
		t.Errorf("new sandbox's files mismatch (-want +got):\n%s", diff)
	}
	if code, body := getPreview(t, s, done.PreviewURL); code != http.StatusOK || !strings.Contains(body, "<h1>One</h1>") {
		t.Errorf("preview of the new sandbox = %d %q", code, body)
	}
}

// kill -9 during a run loses no committed version, and the run shows as
// interrupted after a restart. The server is the real binary in its own
// process.
func TestKill9DuringRunKeepsVersions(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quickvibe")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../cmd/quickvibe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var (
		mu      sync.Mutex
		calls   int
		blocked = make(chan struct{})
		unblock = make(chan struct{})
	)
	model := anthropictest.NewServer(t, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1: // the doomed run writes a file
			return anthropictest.Reply(anthropictest.WriteFile("draft.html", "<p>draft</p>\n"))
		case 2: // then hangs until the server is killed
			close(blocked)
			<-unblock
			return anthropictest.Reply(anthropictest.Text("too late"))
		default:
			return anthropictest.Reply(anthropictest.Text("Carrying on."))
		}
	}))
	// Registered after the model server, so it runs before the server's
	// Close, which waits for the hanging handler.
	t.Cleanup(func() { close(unblock) })
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageOne)),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)

	dataDir := t.TempDir()
	s, proc := startProcess(t, bin, dataDir, model.URL())
	api := signUp(t, s)
	ctx := t.Context()
	p, err := api.CreateProject(ctx, "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	_, first := prompt(t, api, p.ID, "make a page")
	runID, err := api.Prompt(ctx, p.ID, "add a draft")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(60 * time.Second):
		t.Fatal("the run never reached its second model call")
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc.Wait()

	s, _ = startProcess(t, bin, dataDir, model.URL())
	api = client.New(s.url, api.Token)
	vs := listVersions(t, s, api, p.ID)
	if len(vs) != 1 || vs[0].ID != first.VersionID {
		t.Fatalf("versions after kill -9 = %+v; want exactly the committed %s", vs, first.VersionID)
	}
	repo := filepath.Join(dataDir, "projects", p.ID, "repo.git")
	if out, err := exec.Command("git", "--git-dir", repo, "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Errorf("git fsck after kill -9: %v\n%s", err, out)
	}
	var r struct{ Status, ErrorCode string }
	callJSON(t, s, api, http.MethodGet, "/api/runs/"+runID, nil, http.StatusOK, &r)
	if r.Status != "interrupted" || r.ErrorCode != "interrupted" {
		t.Errorf("run after restart = %+v; want interrupted", r)
	}
	evs := collect(t, api, runID, 0)
	if last := evs[len(evs)-1]; last.Type != "error" || !strings.Contains(string(last.Data), `"interrupted"`) {
		t.Errorf("last event of the killed run = %s %s; want an interrupted error", last.Type, last.Data)
	}

	// The next run picks up what the killed run wrote and commits it.
	_, third := prompt(t, api, p.ID, "carry on")
	if third.VersionID == first.VersionID {
		t.Fatalf("the next run made no version")
	}
	code, body, _ := call(t, s, api, http.MethodGet, "/api/projects/"+p.ID+"/versions/"+third.VersionID+"/files/draft.html", "", nil)
	if code != http.StatusOK || string(body) != "<p>draft</p>\n" {
		t.Errorf("draft.html in the next version = %d %q", code, body)
	}
}

// startProcess runs `quickvibe serve` as a child process on a free loopback
// port and waits until it answers.
func startProcess(t *testing.T, bin, dataDir, modelURL string) (*server, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"QV_ADDR=127.0.0.1:" + strconv.Itoa(port), "QV_PUBLIC_URL=http://localhost:" + strconv.Itoa(port),
		"QV_DATA_DIR=" + dataDir, "ANTHROPIC_API_KEY=" + anthropictest.APIKey, "ANTHROPIC_BASE_URL=" + modelURL,
	}
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), port: port, dataDir: dataDir}
	anon := client.New(s.url, "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := anon.Status(ctx)
		cancel()
		if err == nil {
			return s, cmd
		}
		var ce *client.Error
		if errors.As(err, &ce) || time.Now().After(deadline) {
			t.Fatalf("server did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A run that fails after writing files still records them as a version.
func TestFailedRunStillCommitsItsFiles(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.WriteFile("index.html", pageOne)),
		anthropictest.HTTPError(http.StatusBadRequest, "invalid_request_error", "something the model did not like"),
	)
	s := startServer(t, t.TempDir(), map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})
	api := signUp(t, s)
	p, err := api.CreateProject(t.Context(), "Site", "website")
	if err != nil {
		t.Fatal(err)
	}
	var last client.Event
	runID, err := api.PromptStream(t.Context(), p.ID, "make a page", func(e client.Event) error {
		last = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if last.Type != "error" {
		t.Fatalf("run ended with %s %s; want an error", last.Type, last.Data)
	}
	vs := listVersions(t, s, api, p.ID)
	if len(vs) != 1 || vs[0].RunID != runID || vs[0].Message != "make a page" {
		t.Fatalf("versions = %+v; want one recording the failed run %s", vs, runID)
	}
	code, body, _ := call(t, s, api, http.MethodGet, "/api/projects/"+p.ID+"/versions/"+vs[0].ID+"/files/index.html", "", nil)
	if code != http.StatusOK || string(body) != pageOne {
		t.Errorf("index.html of the failed run's version = %d %q", code, body)
	}
}
