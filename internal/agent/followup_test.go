package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/llm/openai"
	"github.com/quickvibe/quickvibe/internal/llm/openaitest"
)

// ctxRecorder also records the context events.
type ctxRecorder struct {
	recorder
	files       [][]string
	compactions []agent.Compaction
}

func (r *ctxRecorder) ContextFiles(p []string)      { r.files = append(r.files, p) }
func (r *ctxRecorder) Compacted(c agent.Compaction) { r.compactions = append(r.compactions, c) }

const page = "<!doctype html>\n<html>\n<body>\n<h1>Todo</h1>\n<ul id=\"list\"></ul>\n</body>\n</html>\n"

// TestFollowUpEditsOneLine is a two-prompt conversation over the
// OpenAI-compatible double: the first prompt writes the page, the user then
// edits it by hand, and the follow-up sees that edit in its context and
// changes one line with edit_file.
func TestFollowUpEditsOneLine(t *testing.T) {
	t.Parallel()
	srv := openaitest.NewServer(t)
	m, err := openai.New(openai.Config{APIKey: openaitest.APIKey, BaseURL: srv.URL(), Model: "qwen-coder"})
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(m, agent.Options{})
	ws := newWorkspace(nil)

	srv.Enqueue(openaitest.Reply(openaitest.WriteFile("index.html", page)), openaitest.Reply(openaitest.Text("Made a todo page.")))
	first, err := a.Prompt(t.Context(), ws, agent.Request{ProjectType: agent.ProjectWebsite, Prompt: "a todo page"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The user renames the heading by hand between prompts.
	edited := strings.Replace(page, "<h1>Todo</h1>", "<h1>My tasks</h1>", 1)
	ws.files["index.html"] = edited

	srv.Enqueue(
		openaitest.Reply(openaitest.EditFile("index.html", "<body>", `<body class="dark">`)),
		openaitest.Reply(openaitest.Text("Dark mode is on.")),
	)
	rec := &ctxRecorder{}
	second, err := a.Prompt(t.Context(), ws, agent.Request{ProjectType: agent.ProjectWebsite, History: first.Messages, Prompt: "add dark mode"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(edited, "<body>", `<body class="dark">`, 1)
	if got := ws.files["index.html"]; got != want {
		t.Errorf("index.html =\n%s\nwant the user's edit kept and one line changed:\n%s", got, want)
	}
	if len(rec.tools) != 1 || rec.tools[0].Name != agent.ToolEditFile || rec.tools[0].LinesAdded != 1 || rec.tools[0].LinesRemoved != 1 {
		t.Errorf("tools = %+v; want one edit_file of one line", rec.tools)
	}
	if len(rec.files) != 1 || len(rec.files[0]) != 1 || rec.files[0][0] != "index.html" {
		t.Errorf("context files = %v; want [[index.html]]", rec.files)
	}
	// The follow-up request carries the whole conversation and the current file.
	reqs := srv.Requests()
	followUp := reqs[2]
	var sawOld, sawEdit bool
	for _, msg := range followUp.Messages {
		sawOld = sawOld || (msg.Role == "user" && strings.Contains(msg.Content, "a todo page"))
		sawEdit = sawEdit || (msg.Role == "user" && strings.Contains(msg.Content, "<h1>My tasks</h1>"))
	}
	if !sawOld || !sawEdit {
		t.Errorf("follow-up request lacks the first prompt (%v) or the user's edit (%v)", sawOld, sawEdit)
	}
	if len(second.Messages) != 4 {
		t.Errorf("second run kept %d messages, want 4", len(second.Messages))
	}
}

// TestCompactionFitsBigProject runs a follow-up on a project and history far
// bigger than the context limit: every request stays under the limit, and
// the events say which files were sent and that turns were compacted.
func TestCompactionFitsBigProject(t *testing.T) {
	t.Parallel()
	const limit = 8000 // tokens
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("js/module%02d.js", i)] = strings.Repeat(fmt.Sprintf("export const v%d = %d;\n", i, i), 400)
	}
	files["index.html"] = page
	ws := newWorkspace(files)

	// History: ten earlier prompts, each of which wrote a big file.
	var history []llm.Message
	for i := range 10 {
		big := strings.Repeat("x", 6000)
		history = append(history,
			llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: fmt.Sprintf("prompt %d", i)}}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ToolUseID: fmt.Sprintf("w%d", i), Name: "write_file",
				Input: mustCompact(t, map[string]string{"path": fmt.Sprintf("big%d.txt", i), "content": big})}}},
			llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: fmt.Sprintf("w%d", i), Text: "Created."}}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Done " + strings.Repeat("y", 3000)}}},
		)
	}
	s, a := newAgent(t, agent.Options{ContextTokens: limit})
	s.Enqueue(
		anthropictest.Reply(anthropictest.ReadFile("js/module01.js")),
		anthropictest.Reply(anthropictest.EditFile("index.html", "<h1>Todo</h1>", "<h1>Big</h1>")),
		anthropictest.Reply(anthropictest.Text("Renamed.")),
	)
	rec := &ctxRecorder{}
	if _, err := a.Prompt(t.Context(), ws, agent.Request{ProjectType: agent.ProjectWebsite, History: history, Prompt: "rename the heading in index.html"}, rec); err != nil {
		t.Fatal(err)
	}
	for i, req := range s.Requests() {
		size := len(req.System)
		for _, m := range req.Messages {
			for _, c := range m.Content {
				size += len(c.Text) + len(c.Input)
			}
		}
		if size/4 > limit {
			t.Errorf("request %d is about %d tokens, over the limit of %d", i, size/4, limit)
		}
	}
	if len(rec.compactions) == 0 || rec.compactions[0].Before <= limit || rec.compactions[0].After > limit {
		t.Errorf("compactions = %+v; want one from over %d to under it", rec.compactions, limit)
	}
	if len(rec.files) != 1 || len(rec.files[0]) == 0 || rec.files[0][0] != "index.html" && !contains(rec.files[0], "index.html") {
		t.Errorf("context files = %v; want index.html among them", rec.files)
	}
	if ws.files["index.html"] != strings.Replace(page, "Todo", "Big", 1) {
		t.Errorf("index.html = %q", ws.files["index.html"])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var errBudget = errors.New("budget exhausted")

// TestBudgetRefusesCall checks the budget hook runs before every call and
// that a refusal ends the run before the model is called again.
func TestBudgetRefusesCall(t *testing.T) {
	t.Parallel()
	s, a := newAgent(t, agent.Options{})
	s.Enqueue(anthropictest.Reply(anthropictest.WriteFile("a.txt", "a")))
	var spent llm.Usage
	calls := 0
	req := agent.Request{
		ProjectType: agent.ProjectWebsite, Prompt: "go", Model: "claude-haiku-4-5",
		Budget: func(_ context.Context, model string) error {
			calls++
			if model != "claude-haiku-4-5" {
				t.Errorf("budget asked about model %q", model)
			}
			if spent.OutputTokens > 0 {
				return errBudget
			}
			return nil
		},
		Spent: func(_ string, u llm.Usage) { spent.OutputTokens += u.OutputTokens },
	}
	res, err := a.Prompt(t.Context(), newWorkspace(nil), req, nil)
	if !errors.Is(err, errBudget) {
		t.Fatalf("err = %v, want the budget refusal", err)
	}
	if calls != 2 || len(s.Requests()) != 1 || s.Requests()[0].Model != "claude-haiku-4-5" {
		t.Errorf("budget calls = %d, model requests = %d; want 2 and 1 with the chosen model", calls, len(s.Requests()))
	}
	if len(res.FilesChanged) != 1 {
		t.Errorf("FilesChanged = %v; the work before the refusal is reported", res.FilesChanged)
	}
}

// TestPromptTooLongIsCompactedAndRetried: when the API says the prompt is
// too long despite the estimate, the call is sent again, smaller.
func TestPromptTooLongIsCompactedAndRetried(t *testing.T) {
	t.Parallel()
	var history []llm.Message
	for i := range 6 {
		history = append(history,
			llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: fmt.Sprintf("prompt %d", i)}}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: strings.Repeat("z", 4000)}}},
		)
	}
	s, a := newAgent(t, agent.Options{ContextTokens: 100_000})
	s.Enqueue(
		anthropictest.HTTPError(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
		anthropictest.Reply(anthropictest.Text("ok")),
	)
	rec := &ctxRecorder{}
	if _, err := a.Prompt(t.Context(), newWorkspace(nil), agent.Request{ProjectType: agent.ProjectWebsite, History: history, Prompt: "go"}, rec); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || len(reqs[1].Messages) >= len(reqs[0].Messages) {
		t.Fatalf("requests = %d with %d then %d messages; want a smaller second one", len(reqs), len(reqs[0].Messages), len(reqs[len(reqs)-1].Messages))
	}
	if len(rec.compactions) != 1 || rec.compactions[0].Dropped == 0 {
		t.Errorf("compactions = %+v; want one that dropped old turns", rec.compactions)
	}
}
