package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

func TestTextAnswer(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.Text("Hello! What shall we build?")))
	ws := newWorkspace(map[string]string{"index.html": "<h1>old</h1>\n", "css/style.css": "body{}"})
	var rec recorder

	res, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "hi", &rec)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []string{
		"delta:Hello", "delta:! Wha", "delta:t sha", "delta:ll we", "delta: buil", "delta:d?",
		"text:Hello! What shall we build?", "usage",
	}
	if diff := cmp.Diff(wantEvents, rec.events); diff != "" {
		t.Errorf("observer events mismatch (-want +got):\n%s", diff)
	}
	tree := "<workspace>\nFiles in the workspace now:\ncss/\ncss/style.css (6 B)\nindex.html (13 B)\n</workspace>"
	wantRes := agent.Result{
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: tree}, {Type: llm.BlockText, Text: "hi"}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Hello! What shall we build?"}}},
		},
		Usage: llm.Usage{InputTokens: anthropictest.DefaultInputTokens, OutputTokens: anthropictest.DefaultOutputTokens},
	}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("Run() mismatch (-want +got):\n%s", diff)
	}

	req := s.Requests()[0]
	for _, want := range []string{"index.html", "3000", "Never start a server", "no build step", "CDN"} {
		if !strings.Contains(strings.ToLower(req.System), strings.ToLower(want)) {
			t.Errorf("system prompt does not mention %q", want)
		}
	}
	var names []string
	for _, tool := range req.Tools {
		names = append(names, tool.Name)
	}
	wantNames := []string{"write_file", "edit_file", "read_file", "list_files", "run_command", "delete_file"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("tools mismatch (-want +got):\n%s", diff)
	}
	wantMsgs := []anthropictest.Message{{Role: "user", Content: []anthropictest.Content{{Type: "text", Text: tree}, {Type: "text", Text: "hi"}}}}
	if diff := cmp.Diff(wantMsgs, req.Messages); diff != "" {
		t.Errorf("first request messages mismatch (-want +got):\n%s", diff)
	}
}

func TestEmptyWorkspaceTree(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.Text("ok")))
	if _, err := a.Run(t.Context(), newWorkspace(nil), agent.ProjectWebsite, nil, "build", nil); err != nil {
		t.Fatal(err)
	}
	if got := lastMessage(t, s, 0).Content[0].Text; got != "<workspace>\nThe workspace is empty.\n</workspace>" {
		t.Errorf("tree = %q", got)
	}
}

func TestWriteIndexThenEnd(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	page := "<!doctype html>\n<title>Hi</title>\n<h1>Hi</h1>\n"
	s.Enqueue(
		anthropictest.Reply(anthropictest.Text("Creating the page."), anthropictest.WriteFile("index.html", page).WithID("toolu_w")),
		anthropictest.Reply(anthropictest.Text("Done: a page that says hi.")),
	)
	ws := newWorkspace(nil)
	var rec recorder

	res, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "a page that says hi", &rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ws.file("index.html"); got != page {
		t.Errorf("index.html = %q, want %q", got, page)
	}
	wantTools := []agent.ToolEvent{{ID: "toolu_w", Name: "write_file", Action: agent.ActionCreate, File: "index.html", LinesAdded: 3}}
	if diff := cmp.Diff(wantTools, rec.tools); diff != "" {
		t.Errorf("ToolFinished mismatch (-want +got):\n%s", diff)
	}
	wantEvents := []string{
		"delta:Creat", "delta:ing t", "delta:he pa", "delta:ge.", "started:toolu_w:write_file",
		"text:Creating the page.", "usage", "finished:toolu_w",
		"delta:Done:", "delta: a pa", "delta:ge th", "delta:at sa", "delta:ys hi", "delta:.",
		"text:Done: a page that says hi.", "usage",
	}
	if diff := cmp.Diff(wantEvents, rec.events); diff != "" {
		t.Errorf("observer events mismatch (-want +got):\n%s", diff)
	}

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	wantSecond := reqs[0].Messages
	wantSecond = append(wantSecond,
		anthropictest.Message{Role: "assistant", Content: []anthropictest.Content{
			{Type: "text", Text: "Creating the page."},
			{Type: "tool_use", ID: "toolu_w", Name: "write_file", Input: mustCompact(t, map[string]string{"path": "index.html", "content": page})},
		}},
		anthropictest.Message{Role: "user", Content: []anthropictest.Content{
			{Type: "tool_result", ToolUseID: "toolu_w", Text: "Created index.html (3 lines)."},
		}},
	)
	if diff := cmp.Diff(wantSecond, reqs[1].Messages, jsonEqual); diff != "" {
		t.Errorf("second request messages mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"index.html"}, res.FilesChanged); diff != "" {
		t.Errorf("FilesChanged mismatch (-want +got):\n%s", diff)
	}
	if len(res.Messages) != 4 || res.Messages[3].Content[0].Text != "Done: a page that says hi." {
		t.Errorf("Messages = %+v, want prompt, tool call, result, final text", res.Messages)
	}
}

var jsonEqual = cmp.Transformer("json", func(r json.RawMessage) any {
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r)
	}
	return v
})

func mustCompact(t *testing.T, v any) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTools(t *testing.T) {
	t.Parallel()
	okExec := func(_ context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
		return sandbox.ExecResult{Output: "timeout " + req.Timeout.String()}, nil
	}
	tests := []struct {
		name        string
		files       map[string]string
		exec        func(context.Context, sandbox.ExecRequest) (sandbox.ExecResult, error)
		call        anthropictest.Block
		wantText    string
		wantError   bool
		wantEvent   agent.ToolEvent
		wantFiles   map[string]string
		wantChanged []string
	}{
		{
			name:      "write over an existing file is an edit",
			files:     map[string]string{"app.js": "a\nb\nc\n"},
			call:      anthropictest.WriteFile("app.js", "a\nB\nc\nd\n"),
			wantText:  "Replaced app.js (+2 -1 lines).",
			wantEvent: agent.ToolEvent{Name: "write_file", Action: agent.ActionEdit, File: "app.js", LinesAdded: 2, LinesRemoved: 1},
			wantFiles: map[string]string{"app.js": "a\nB\nc\nd\n"}, wantChanged: []string{"app.js"},
		},
		{
			name:      "write in a new directory",
			call:      anthropictest.WriteFile("./css/style.css", "body {}\n"),
			wantText:  "Created css/style.css (1 lines).",
			wantEvent: agent.ToolEvent{Name: "write_file", Action: agent.ActionCreate, File: "css/style.css", LinesAdded: 1},
			wantFiles: map[string]string{"css/style.css": "body {}\n"}, wantChanged: []string{"css/style.css"},
		},
		{
			name:      "write of the same content changes nothing",
			files:     map[string]string{"app.js": "x\n"},
			call:      anthropictest.WriteFile("app.js", "x\n"),
			wantText:  "app.js already has exactly this content; nothing changed.",
			wantEvent: agent.ToolEvent{Name: "write_file", Action: agent.ActionEdit, File: "app.js"},
			wantFiles: map[string]string{"app.js": "x\n"},
		},
		{
			name:     "write with a placeholder is refused",
			files:    map[string]string{"app.js": "let x = 1;\nlet y = 2;\n"},
			call:     anthropictest.WriteFile("app.js", "let x = 1;\n// ... existing code ...\n"),
			wantText: `refused: the content contains the placeholder "... existing code", which would delete the code it stands for; write the complete file, or use edit_file to change only part of it`, wantError: true,
			wantEvent: agent.ToolEvent{Name: "write_file", File: "app.js",
				Error: `refused: the content contains the placeholder "... existing code", which would delete the code it stands for; write the complete file, or use edit_file to change only part of it`},
			wantFiles: map[string]string{"app.js": "let x = 1;\nlet y = 2;\n"},
		},
		{
			name:      "write keeps a marker that was already in the file",
			files:     map[string]string{"notes.md": "The rest of the file is unchanged.\n"},
			call:      anthropictest.WriteFile("notes.md", "# Notes\nThe rest of the file is unchanged.\n"),
			wantText:  "Replaced notes.md (+1 -0 lines).",
			wantEvent: agent.ToolEvent{Name: "write_file", Action: agent.ActionEdit, File: "notes.md", LinesAdded: 1},
			wantFiles: map[string]string{"notes.md": "# Notes\nThe rest of the file is unchanged.\n"}, wantChanged: []string{"notes.md"},
		},
		{
			name:     "edit with a placeholder is refused",
			files:    map[string]string{"index.html": "<body>\n<h1>Hi</h1>\n</body>\n"},
			call:     anthropictest.EditFile("index.html", "<h1>Hi</h1>", "<h1>Hi</h1>\n<!-- rest of the code unchanged -->"),
			wantText: `refused: new_string contains the placeholder "rest of the code unchanged", which would delete the code it stands for; put the real text in new_string`, wantError: true,
			wantEvent: agent.ToolEvent{Name: "edit_file", Action: agent.ActionEdit, File: "index.html",
				Error: `refused: new_string contains the placeholder "rest of the code unchanged", which would delete the code it stands for; put the real text in new_string`},
			wantFiles: map[string]string{"index.html": "<body>\n<h1>Hi</h1>\n</body>\n"},
		},
		{
			name:      "edit replaces a unique match",
			files:     map[string]string{"app.js": "let x = 1;\nlet y = 2;\n"},
			call:      anthropictest.EditFile("app.js", "let y = 2;", "let y = 3;\nlet z = 4;"),
			wantText:  "Edited app.js (+2 -1 lines).",
			wantEvent: agent.ToolEvent{Name: "edit_file", Action: agent.ActionEdit, File: "app.js", LinesAdded: 2, LinesRemoved: 1},
			wantFiles: map[string]string{"app.js": "let x = 1;\nlet y = 3;\nlet z = 4;\n"}, wantChanged: []string{"app.js"},
		},
		{
			name:     "edit with a repeated old_string",
			files:    map[string]string{"app.js": "x();\nx();\nx();\n"},
			call:     anthropictest.EditFile("app.js", "x();", "y();"),
			wantText: "old_string appears 3 times in app.js; include more surrounding lines to make it unique", wantError: true,
			wantEvent: agent.ToolEvent{Name: "edit_file", Action: agent.ActionEdit, File: "app.js",
				Error: "old_string appears 3 times in app.js; include more surrounding lines to make it unique"},
			wantFiles: map[string]string{"app.js": "x();\nx();\nx();\n"},
		},
		{
			name:     "edit with a missing old_string",
			files:    map[string]string{"app.js": "let  x = 1;\n"},
			call:     anthropictest.EditFile("app.js", "let x = 1;", "let x = 2;"),
			wantText: "old_string was not found in app.js; read the file and copy the text exactly, whitespace and indentation included", wantError: true,
			wantEvent: agent.ToolEvent{Name: "edit_file", Action: agent.ActionEdit, File: "app.js",
				Error: "old_string was not found in app.js; read the file and copy the text exactly, whitespace and indentation included"},
			wantFiles: map[string]string{"app.js": "let  x = 1;\n"},
		},
		{
			name:     "edit of a missing file",
			call:     anthropictest.EditFile("nope.js", "a", "b"),
			wantText: "nope.js does not exist; use write_file to create it", wantError: true,
			wantEvent: agent.ToolEvent{Name: "edit_file", Action: agent.ActionEdit, File: "nope.js",
				Error: "nope.js does not exist; use write_file to create it"},
		},
		{
			name:      "read",
			files:     map[string]string{"index.html": "<h1>Hi</h1>\n"},
			call:      anthropictest.ReadFile("index.html"),
			wantText:  "<h1>Hi</h1>\n",
			wantEvent: agent.ToolEvent{Name: "read_file", Action: agent.ActionRead, File: "index.html"},
			wantFiles: map[string]string{"index.html": "<h1>Hi</h1>\n"},
		},
		{
			name:     "read of a missing file",
			call:     anthropictest.ReadFile("missing.html"),
			wantText: "missing.html does not exist", wantError: true,
			wantEvent: agent.ToolEvent{Name: "read_file", Action: agent.ActionRead, File: "missing.html", Error: "missing.html does not exist"},
		},
		{
			name:      "list the workspace",
			files:     map[string]string{"index.html": "x", "css/style.css": "ab"},
			call:      anthropictest.ListFiles(""),
			wantText:  "css/\ncss/style.css (2 B)\nindex.html (1 B)",
			wantEvent: agent.ToolEvent{Name: "list_files", Action: agent.ActionList},
			wantFiles: map[string]string{"index.html": "x", "css/style.css": "ab"},
		},
		{
			name:      "list a directory",
			files:     map[string]string{"index.html": "x", "css/style.css": "ab"},
			call:      anthropictest.ListFiles("css"),
			wantText:  "css/style.css (2 B)",
			wantEvent: agent.ToolEvent{Name: "list_files", Action: agent.ActionList, File: "css"},
			wantFiles: map[string]string{"index.html": "x", "css/style.css": "ab"},
		},
		{
			name:     "write outside the workspace",
			call:     anthropictest.WriteFile("../outside.txt", "x"),
			wantText: "../outside.txt is outside the workspace; use a path relative to the workspace root, such as index.html", wantError: true,
			wantEvent: agent.ToolEvent{Name: "write_file", File: "../outside.txt",
				Error: "../outside.txt is outside the workspace; use a path relative to the workspace root, such as index.html"},
		},
		{
			name:     "read an absolute path",
			call:     anthropictest.ReadFile("/etc/passwd"),
			wantText: "/etc/passwd is outside the workspace; use a path relative to the workspace root, such as index.html", wantError: true,
			wantEvent: agent.ToolEvent{Name: "read_file", Action: agent.ActionRead, File: "/etc/passwd",
				Error: "/etc/passwd is outside the workspace; use a path relative to the workspace root, such as index.html"},
		},
		{
			name: "run a failing command",
			exec: func(_ context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
				if req.Command != "node --check app.js" || req.Timeout != 5*time.Second {
					return sandbox.ExecResult{}, fmt.Errorf("unexpected request %+v", req)
				}
				return sandbox.ExecResult{ExitCode: 2, Output: "app.js:3 SyntaxError\n"}, nil
			},
			call:      anthropictest.RunCommand("node --check app.js", 5),
			wantText:  "exit code: 2\napp.js:3 SyntaxError\n",
			wantEvent: agent.ToolEvent{Name: "run_command", Action: agent.ActionRun, Command: "node --check app.js", ExitCode: 2, Output: "app.js:3 SyntaxError\n"},
		},
		{
			name:      "run with the default timeout",
			exec:      okExec,
			call:      anthropictest.RunCommand("ls", 0),
			wantText:  "exit code: 0\ntimeout 7s",
			wantEvent: agent.ToolEvent{Name: "run_command", Action: agent.ActionRun, Command: "ls", Output: "timeout 7s"},
		},
		{
			name:      "run with a timeout above the cap",
			exec:      okExec,
			call:      anthropictest.RunCommand("ls", 3600),
			wantText:  "exit code: 0\ntimeout 10m0s",
			wantEvent: agent.ToolEvent{Name: "run_command", Action: agent.ActionRun, Command: "ls", Output: "timeout 10m0s"},
		},
		{
			name: "run a command that times out",
			exec: func(context.Context, sandbox.ExecRequest) (sandbox.ExecResult, error) {
				return sandbox.ExecResult{ExitCode: 124, Output: "serving on :8080\n", TimedOut: true}, nil
			},
			call:      anthropictest.RunCommand("python -m http.server 8080", 5),
			wantText:  "the command did not finish within 5s and was stopped; do not start servers or watchers (the platform serves the site)\nexit code: 124\nserving on :8080\n",
			wantError: true,
			wantEvent: agent.ToolEvent{Name: "run_command", Action: agent.ActionRun, Command: "python -m http.server 8080", ExitCode: 124, Output: "serving on :8080\n",
				Error: "the command did not finish within 5s and was stopped; do not start servers or watchers (the platform serves the site)"},
		},
		{
			name: "run when the engine fails",
			exec: func(context.Context, sandbox.ExecRequest) (sandbox.ExecResult, error) {
				return sandbox.ExecResult{}, errors.New("toolbox: connection refused")
			},
			call:     anthropictest.RunCommand("ls", 0),
			wantText: "could not run the command: toolbox: connection refused", wantError: true,
			wantEvent: agent.ToolEvent{Name: "run_command", Action: agent.ActionRun, Command: "ls", Error: "could not run the command: toolbox: connection refused"},
		},
		{
			name:        "delete",
			files:       map[string]string{"old.css": "a\nb\n", "index.html": "x"},
			call:        anthropictest.DeleteFile("old.css"),
			wantText:    "Deleted old.css.",
			wantEvent:   agent.ToolEvent{Name: "delete_file", Action: agent.ActionDelete, File: "old.css", LinesRemoved: 2},
			wantFiles:   map[string]string{"index.html": "x"},
			wantChanged: []string{"old.css"},
		},
		{
			name:     "input of the wrong type",
			call:     anthropictest.RawToolUse("write_file", `{"path": 5, "content": "x"}`),
			wantText: "invalid input: path must be a string, not number", wantError: true,
			wantEvent: agent.ToolEvent{Name: "write_file", Error: "invalid input: path must be a string, not number"},
		},
		{
			name:     "input without a required field",
			call:     anthropictest.ToolUse("write_file", map[string]string{"path": "a.html"}),
			wantText: "invalid input: content is required", wantError: true,
			wantEvent: agent.ToolEvent{Name: "write_file", Error: "invalid input: content is required"},
		},
		{
			// The SDK replaces input that is not JSON with {} when the block stops.
			name:     "input that is not JSON",
			call:     anthropictest.RawToolUse("read_file", `{"path": "ind`),
			wantText: "invalid input: path is required", wantError: true,
			wantEvent: agent.ToolEvent{Name: "read_file", Error: "invalid input: path is required"},
		},
		{
			name:     "empty old_string",
			files:    map[string]string{"a.js": "x"},
			call:     anthropictest.EditFile("a.js", "", "y"),
			wantText: "invalid input: old_string is required and must not be empty; use write_file to create a file or replace all of it", wantError: true,
			wantEvent: agent.ToolEvent{Name: "edit_file", Error: "invalid input: old_string is required and must not be empty; use write_file to create a file or replace all of it"},
			wantFiles: map[string]string{"a.js": "x"},
		},
		{
			name:     "unknown tool",
			call:     anthropictest.ToolUse("launch_rockets", map[string]int{"count": 3}),
			wantText: `unknown tool "launch_rockets"; the tools are write_file, edit_file, read_file, list_files, run_command and delete_file`, wantError: true,
			wantEvent: agent.ToolEvent{Name: "launch_rockets",
				Error: `unknown tool "launch_rockets"; the tools are write_file, edit_file, read_file, list_files, run_command and delete_file`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, a := newAgent(t, agent.Options{CommandTimeout: 7 * time.Second})
			s.Enqueue(anthropictest.Reply(tt.call.WithID("toolu_x")), anthropictest.Reply(anthropictest.Text("Done.")))
			ws := newWorkspace(tt.files)
			ws.exec = tt.exec
			var rec recorder

			res, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "go", &rec)
			if err != nil {
				t.Fatalf("Run() = %v; tool failures must not end the run", err)
			}
			want := []anthropictest.Content{{Type: "tool_result", ToolUseID: "toolu_x", Text: tt.wantText, IsError: tt.wantError}}
			if diff := cmp.Diff(want, toolResults(t, s, 1)); diff != "" {
				t.Errorf("tool_result mismatch (-want +got):\n%s", diff)
			}
			tt.wantEvent.ID = "toolu_x"
			if diff := cmp.Diff([]agent.ToolEvent{tt.wantEvent}, rec.tools); diff != "" {
				t.Errorf("ToolFinished mismatch (-want +got):\n%s", diff)
			}
			wantFiles := tt.wantFiles
			if wantFiles == nil {
				wantFiles = map[string]string{}
			}
			if diff := cmp.Diff(wantFiles, ws.files, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("workspace mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantChanged, res.FilesChanged); diff != "" {
				t.Errorf("FilesChanged mismatch (-want +got):\n%s", diff)
			}
			if got := len(s.Requests()); got != 2 {
				t.Errorf("%d requests, want 2", got)
			}
		})
	}
}

func TestSeveralToolsRunInOrder(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(
		anthropictest.Reply(
			anthropictest.WriteFile("index.html", "<h1>v1</h1>\n").WithID("t1"),
			anthropictest.EditFile("index.html", "v1", "v2").WithID("t2"),
			anthropictest.ReadFile("index.html").WithID("t3"),
		),
		anthropictest.Reply(anthropictest.Text("Done.")),
	)
	ws := newWorkspace(nil)
	if _, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "go", nil); err != nil {
		t.Fatal(err)
	}
	want := []anthropictest.Content{
		{Type: "tool_result", ToolUseID: "t1", Text: "Created index.html (1 lines)."},
		{Type: "tool_result", ToolUseID: "t2", Text: "Edited index.html (+1 -1 lines)."},
		{Type: "tool_result", ToolUseID: "t3", Text: "<h1>v2</h1>\n"},
	}
	if diff := cmp.Diff(want, toolResults(t, s, 1)); diff != "" {
		t.Errorf("tool results mismatch (-want +got):\n%s", diff)
	}
}

func TestMaxTurns(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{MaxTurns: 3}, anthropictest.WithResponder(func(anthropictest.Request) anthropictest.Turn {
		return anthropictest.Reply(anthropictest.ListFiles(""))
	}))
	res, err := a.Run(t.Context(), newWorkspace(nil), agent.ProjectWebsite, nil, "loop forever", nil)
	if !errors.Is(err, agent.ErrMaxTurns) {
		t.Fatalf("Run() = %v, want ErrMaxTurns", err)
	}
	if !strings.Contains(err.Error(), "3") {
		t.Errorf("error %q does not say the limit", err)
	}
	if um, ok := errors.AsType[interface {
		error
		UserMessage() string
	}](err); !ok || !strings.Contains(um.UserMessage(), "limit") {
		t.Errorf("error %v has no fitting UserMessage", err)
	}
	if got := len(s.Requests()); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
	// Prompt, then three pairs of tool call and result: still a valid conversation.
	if len(res.Messages) != 7 || res.Messages[6].Content[0].Type != llm.BlockToolResult {
		t.Errorf("Messages = %+v, want 7 ending in tool results", res.Messages)
	}
	if res.Usage.InputTokens != 3*anthropictest.DefaultInputTokens {
		t.Errorf("Usage = %+v, want three calls", res.Usage)
	}
}

func TestModelErrors(t *testing.T) {
	t.Parallel()
	write := anthropictest.Reply(anthropictest.WriteFile("index.html", "hi\n"))
	tests := []struct {
		name  string
		key   string
		turns []anthropictest.Turn
		// wantFirst says the error came on the first call, before any tool ran.
		wantFirst bool
		check     func(t *testing.T, err error)
	}{
		{
			name: "wrong key", key: "sk-ant-wrong", wantFirst: true,
			check: func(t *testing.T, err error) {
				if got, want := anthropic.UserMessage(err), "the model API rejected the key (ANTHROPIC_API_KEY)"; got != want {
					t.Errorf("UserMessage() = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "sse error after 200",
			turns: []anthropictest.Turn{write, anthropictest.StreamError("overloaded_error", "Overloaded")},
			check: func(t *testing.T, err error) {
				apiErr, ok := errors.AsType[*anthropic.APIError](err)
				if !ok || apiErr.Type != "overloaded_error" || !apiErr.InStream {
					t.Errorf("err = %v, want an overloaded APIError from the stream", err)
				}
			},
		},
		{
			name:  "stream cut mid message",
			turns: []anthropictest.Turn{write, anthropictest.Reply(anthropictest.Text("All done, enjoy your page")).CutAfter(6)},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, anthropic.ErrIncompleteStream) {
					t.Errorf("err = %v, want ErrIncompleteStream", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := anthropictest.NewServer(t)
			s.Enqueue(tt.turns...)
			key := tt.key
			if key == "" {
				key = anthropictest.APIKey
			}
			m, err := anthropic.New(anthropic.Config{APIKey: key, BaseURL: s.URL(), MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			res, err := agent.New(m, agent.Options{}).Run(t.Context(), newWorkspace(nil), agent.ProjectWebsite, nil, "go", nil)
			if err == nil {
				t.Fatal("Run() succeeded, want an error")
			}
			tt.check(t, err)
			// What happened before the error is still reported.
			if tt.wantFirst {
				if res.FilesChanged != nil || len(res.Messages) != 1 {
					t.Errorf("Result = %+v, want only the prompt", res)
				}
				return
			}
			if diff := cmp.Diff([]string{"index.html"}, res.FilesChanged); diff != "" {
				t.Errorf("FilesChanged mismatch (-want +got):\n%s", diff)
			}
			if res.Usage.InputTokens != anthropictest.DefaultInputTokens || len(res.Messages) != 3 {
				t.Errorf("Result = %+v, want the first call's usage and messages", res)
			}
		})
	}
}

func TestUsageSummed(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(
		anthropictest.Reply(anthropictest.ListFiles("")).WithUsage(anthropictest.Usage{InputTokens: 1000, OutputTokens: 50, CacheCreationInputTokens: 900}),
		anthropictest.Reply(anthropictest.ReadFile("x")).WithUsage(anthropictest.Usage{InputTokens: 20, OutputTokens: 40, CacheReadInputTokens: 900}),
		anthropictest.Reply(anthropictest.Text("done")).WithUsage(anthropictest.Usage{InputTokens: 30, OutputTokens: 10, CacheReadInputTokens: 950, CacheCreationInputTokens: 5}),
	)
	var rec recorder
	res, err := a.Run(t.Context(), newWorkspace(nil), agent.ProjectWebsite, nil, "go", &rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Usage{
		{InputTokens: 1000, OutputTokens: 50, CacheCreationInputTokens: 900},
		{InputTokens: 1020, OutputTokens: 90, CacheCreationInputTokens: 900, CacheReadInputTokens: 900},
		{InputTokens: 1050, OutputTokens: 100, CacheCreationInputTokens: 905, CacheReadInputTokens: 1850},
	}
	if diff := cmp.Diff(want, rec.usages); diff != "" {
		t.Errorf("Usage calls mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[2], res.Usage); diff != "" {
		t.Errorf("Result.Usage mismatch (-want +got):\n%s", diff)
	}
}

func TestHistoryComesFirst(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.ReadFile("index.html").WithID("r1")), anthropictest.Reply(anthropictest.Text("Dark mode added.")))
	history := []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "make a page"}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockToolUse, ToolUseID: "old1", Name: "write_file", Input: json.RawMessage(`{"path":"index.html","content":"x"}`)},
		}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "old1", Text: "Created index.html (1 lines)."}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Made it."}}},
	}
	res, err := a.Run(t.Context(), newWorkspace(map[string]string{"index.html": "x"}), agent.ProjectWebsite, history, "add dark mode", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range s.Requests() {
		var got []string
		for _, m := range req.Messages {
			got = append(got, m.Role+":"+m.Content[len(m.Content)-1].Text)
		}
		want := []string{"user:make a page", "assistant:", "user:Created index.html (1 lines).", "assistant:Made it.", "user:add dark mode"}
		if i == 1 {
			want = append(want, "assistant:", "user:x")
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d messages mismatch (-want +got):\n%s", i, diff)
		}
	}
	// The result holds only this run's turns, not the history.
	if first := res.Messages[0].Content; len(res.Messages) != 4 || first[len(first)-1].Text != "add dark mode" ||
		!strings.Contains(first[1].Text, "<file path=\"index.html\">\nx\n</file>") {
		t.Errorf("Messages = %+v, want this run's four", res.Messages)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	t.Run("during a command", func(t *testing.T) {
		t.Parallel()
		s, a := newAgent(t, agent.Options{})
		s.Enqueue(anthropictest.Reply(
			anthropictest.RunCommand("sleep 100", 0).WithID("c1"),
			anthropictest.WriteFile("late.txt", "x").WithID("c2"),
		))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		ws := newWorkspace(nil)
		ws.exec = func(ctx context.Context, _ sandbox.ExecRequest) (sandbox.ExecResult, error) {
			cancel()
			<-ctx.Done()
			return sandbox.ExecResult{}, ctx.Err()
		}
		start := time.Now()
		res, err := a.Run(ctx, ws, agent.ProjectWebsite, nil, "go", nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run() = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Run took %v", d)
		}
		if _, ok := ws.file("late.txt"); ok {
			t.Error("a tool ran after cancellation")
		}
		// Both calls are answered, so the conversation can go on later.
		last := res.Messages[len(res.Messages)-1]
		want := []llm.Block{
			{Type: llm.BlockToolResult, ToolUseID: "c1", Text: "not finished: the run was stopped", IsError: true},
			{Type: llm.BlockToolResult, ToolUseID: "c2", Text: "not run: the run was stopped", IsError: true},
		}
		if diff := cmp.Diff(want, last.Content); diff != "" {
			t.Errorf("last message mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("during the stream", func(t *testing.T) {
		t.Parallel()
		s, a := newAgent(t, agent.Options{})
		s.Enqueue(anthropictest.Reply(anthropictest.WriteFile("index.html", "x")))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rec := &recorder{onToolStarted: func(string, string) { cancel() }}
		ws := newWorkspace(nil)
		_, err := a.Run(ctx, ws, agent.ProjectWebsite, nil, "go", rec)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run() = %v, want context.Canceled", err)
		}
		if _, ok := ws.file("index.html"); ok {
			t.Error("the tool ran after cancellation")
		}
	})
}

func TestMaxTokensCutsLastToolCall(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(
		anthropictest.Reply(
			anthropictest.WriteFile("a.css", "a{}\n").WithID("ok"),
			anthropictest.RawToolUse("write_file", `{"path":"index.html","content":"<h1>`).WithID("cut"),
		).WithStopReason("max_tokens"),
		anthropictest.Reply(anthropictest.Text("Retrying in parts.")),
	)
	ws := newWorkspace(nil)
	if _, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "go", nil); err != nil {
		t.Fatal(err)
	}
	results := toolResults(t, s, 1)
	if len(results) != 2 || results[0].IsError || !results[1].IsError || !strings.Contains(results[1].Text, "max_tokens") {
		t.Errorf("results = %+v, want the first to succeed and the cut one to explain max_tokens", results)
	}
	if _, ok := ws.file("a.css"); !ok {
		t.Error("a.css was not written")
	}
}

func TestRefusal(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.Text("I can't help with that.")).WithStopReason("refusal"))
	if _, err := a.Run(t.Context(), newWorkspace(nil), agent.ProjectWebsite, nil, "go", nil); !errors.Is(err, agent.ErrRefused) {
		t.Errorf("Run() = %v, want ErrRefused", err)
	}
}

func TestUnknownProjectType(t *testing.T) {
	t.Parallel()
	_, a := newAgent(t, agent.Options{})
	if _, err := a.Run(t.Context(), newWorkspace(nil), "mainframe", nil, "go", nil); !errors.Is(err, agent.ErrUnknownProjectType) {
		t.Errorf("Run() = %v, want ErrUnknownProjectType", err)
	}
}

func TestStoppedSandboxEndsRun(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.RunCommand("ls", 0)))
	ws := newWorkspace(nil)
	ws.exec = func(context.Context, sandbox.ExecRequest) (sandbox.ExecResult, error) {
		return sandbox.ExecResult{}, fmt.Errorf("exec: %w", sandbox.ErrNotRunning)
	}
	if _, err := a.Run(t.Context(), ws, agent.ProjectWebsite, nil, "go", nil); !errors.Is(err, sandbox.ErrNotRunning) {
		t.Errorf("Run() = %v, want ErrNotRunning", err)
	}
}

// fakeProvider is a sandbox.Provider whose workspace calls go to functions;
// the rest of the interface is left nil and must not be called.
type fakeProvider struct {
	sandbox.Provider
	readFile func(ctx context.Context, id, path string) ([]byte, error)
	exec     func(ctx context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error)
}

func (p fakeProvider) ReadFile(ctx context.Context, id, path string) ([]byte, error) {
	return p.readFile(ctx, id, path)
}

func (p fakeProvider) Exec(ctx context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	return p.exec(ctx, id, req)
}

func TestSandboxWorkspace(t *testing.T) {
	t.Parallel()
	var calls []string
	ws := agent.SandboxWorkspace(fakeProvider{
		readFile: func(_ context.Context, id, path string) ([]byte, error) {
			calls = append(calls, "read "+id+" "+path)
			return []byte("x"), nil
		},
		exec: func(_ context.Context, id string, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
			calls = append(calls, "exec "+id+" "+req.Command)
			return sandbox.ExecResult{ExitCode: 3}, nil
		},
	}, "sb1")
	if _, err := ws.ReadFile(t.Context(), "a.txt"); err != nil {
		t.Fatal(err)
	}
	if res, err := ws.Exec(t.Context(), sandbox.ExecRequest{Command: "ls"}); err != nil || res.ExitCode != 3 {
		t.Fatalf("Exec() = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"read sb1 a.txt", "exec sb1 ls"}, calls); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
}
