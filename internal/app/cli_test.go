package app_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/cli"
	"github.com/quickvibe/quickvibe/internal/client"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
)

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(t.Context(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestCLIUsersLoginAndNew(t *testing.T) {
	model := anthropictest.NewServer(t)
	model.Enqueue(
		anthropictest.Reply(anthropictest.Text("Building it."), anthropictest.WriteFile("index.html", "<h1>Calc</h1>\n")),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"ANTHROPIC_API_KEY": anthropictest.APIKey, "ANTHROPIC_BASE_URL": model.URL()})

	// users add works on the data directory, next to a running server.
	env := map[string]string{"QV_DATA_DIR": dir, "HOME": t.TempDir(), "QV_URL": s.url}
	out, errOut, code := runCLI(t, env, "a long secret\n", "users", "add", "--email", "me@example.com", "--password-stdin", "--admin")
	if code != 0 || !strings.Contains(out, "created admin me@example.com") {
		t.Fatalf("users add = %d, %q, %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, env, "", "users", "add", "--email", "x@example.com"); code == 0 || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("users add without --password-stdin = %d, %q; want an error naming the flag", code, errOut)
	}

	// Without credentials, new says how to sign in.
	if _, errOut, code := runCLI(t, env, "", "new", "a calculator"); code == 0 || !strings.Contains(errOut, "quickvibe login") {
		t.Errorf("new before login = %d, %q; want advice to log in", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "wrong password\n", "login", "--email", "me@example.com", "--password-stdin"); code == 0 || !strings.Contains(errOut, "wrong email or password") {
		t.Errorf("login with a wrong password = %d, %q", code, errOut)
	}
	out, errOut, code = runCLI(t, env, "a long secret\n", "login", "--email", "me@example.com", "--password-stdin")
	if code != 0 || !strings.Contains(out, "signed in") {
		t.Fatalf("login = %d, %q, %q", code, out, errOut)
	}

	out, errOut, code = runCLI(t, env, "", "new", "--type", "website", "a calculator with dark mode")
	if code != 0 {
		t.Fatalf("new = %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The model replaced the website starter's index.html, none of whose
	// lines it kept.
	replaced := fmt.Sprintf("✎ edit index.html (+1 −%d)", starterLines(t, "index.html"))
	for _, want := range []string{"» creating", "» generating", replaced, "» preview", "Preview: http://3000-", "Open it (link valid until "} {
		if !strings.Contains(out, want) {
			t.Errorf("new output lacks %q:\n%s", want, out)
		}
	}

	// QV_TOKEN works as well as the saved login.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := client.New(s.url, "")
	if _, err := c.Login(ctx, "me@example.com", "a long secret"); err != nil {
		t.Fatal(err)
	}
	token, err := c.CreateToken(ctx, "env")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, map[string]string{"QV_URL": s.url, "QV_TOKEN": token}, "", "projects")
	if code != 0 || !strings.Contains(out, "a calculator with dark mode") {
		t.Errorf("projects with QV_TOKEN = %d, %q, %q", code, out, errOut)
	}
}
