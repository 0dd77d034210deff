package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// ContextObserver is an optional part of an Observer: it learns which files
// went into the model's context and when old turns were compacted, so users
// can see what the model saw.
type ContextObserver interface {
	ContextFiles(paths []string)
	Compacted(c Compaction)
}

// Compaction reports one shrinking of the conversation sent to the model.
type Compaction struct {
	// Before and After are estimated tokens of the request.
	Before, After int
	// Elided counts tool inputs and results replaced by a short note.
	Elided int
	// Dropped counts messages of earlier prompts left out.
	Dropped int
}

// Limits of the files sent with a prompt.
const (
	maxContextFileBytes = 16 << 10
	// contextShare is the part of the context limit that file contents may fill.
	contextShare = 4
)

// entryPoints are read first: they say what the app is.
var entryPoints = []string{"index.html", "src/App.tsx", "src/main.tsx", "server.js", "game.js", "app.js", "dashboard.js", "package.json"}

var textExts = map[string]bool{
	".html": true, ".css": true, ".js": true, ".mjs": true, ".jsx": true, ".ts": true, ".tsx": true,
	".json": true, ".md": true, ".txt": true, ".svg": true, ".py": true, ".webmanifest": true, ".toml": true, ".yaml": true, ".yml": true,
}

// contextFiles picks the files that matter for prompt and reads them, within
// budget bytes: files the prompt names, then entry points, then the most
// recently changed, skipping dependencies and lock files.
func contextFiles(ctx context.Context, ws Workspace, files []sandbox.FileInfo, prompt string, budget int) (string, []string, error) {
	var cands []sandbox.FileInfo
	for _, f := range files {
		p := strings.TrimPrefix(path.Clean(f.Path), "./")
		if f.IsDir || insideNoisyDir(p) || !textExts[path.Ext(p)] || strings.HasSuffix(p, "-lock.json") || f.Size > maxContextFileBytes || f.Size == 0 {
			continue
		}
		f.Path = p
		cands = append(cands, f)
	}
	rank := func(f sandbox.FileInfo) int {
		switch {
		case strings.Contains(prompt, f.Path) || strings.Contains(prompt, path.Base(f.Path)):
			return 0
		case slices.Contains(entryPoints, f.Path):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(cands, func(a, b sandbox.FileInfo) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if c := b.ModTime.Compare(a.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	var b strings.Builder
	var picked []string
	for _, f := range cands {
		if b.Len()+int(f.Size) > budget {
			continue
		}
		data, err := ws.ReadFile(ctx, f.Path)
		if err != nil {
			if ctx.Err() != nil {
				return "", nil, ctx.Err()
			}
			continue // deleted or unreadable since the listing: leave it out
		}
		if !utf8.Valid(data) {
			continue
		}
		fmt.Fprintf(&b, "<file path=%q>\n%s\n</file>\n", f.Path, data)
		picked = append(picked, f.Path)
	}
	if len(picked) == 0 {
		return "", nil, nil
	}
	slices.Sort(picked)
	return "<current_files>\nThe current content of the files that matter most for this request (the user may have edited them by hand since your last turn; this is the truth). Read other files with read_file before changing them.\n" +
		b.String() + "</current_files>", picked, nil
}

// estimateTokens guesses the tokens of messages: about four bytes a token.
func estimateTokens(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		for _, b := range m.Content {
			n += len(b.Text) + len(b.Input) + 16
		}
	}
	return n / 4
}

// keepRecent is how many of the newest messages are never elided.
const keepRecent = 4

// compact shrinks msgs below limit tokens (overhead already subtracted): it
// first replaces big tool inputs, tool results and old file listings by a
// short note, oldest first, then drops whole earlier prompts. It never splits
// a tool_use from its tool_result and returns a copy.
func compact(msgs []llm.Message, limit int) ([]llm.Message, Compaction) {
	c := Compaction{Before: estimateTokens(msgs)}
	if c.Before <= limit {
		c.After = c.Before
		return msgs, c
	}
	out := make([]llm.Message, len(msgs))
	for i, m := range msgs {
		out[i] = llm.Message{Role: m.Role, Content: slices.Clone(m.Content)}
	}
	for i := 0; i < len(out)-keepRecent && estimateTokens(out) > limit; i++ {
		for j, b := range out[i].Content {
			switch {
			case b.Type == llm.BlockToolResult && len(b.Text) > 512:
				out[i].Content[j].Text = fmt.Sprintf("(elided to save context: %d bytes of output; run the tool again if you need it)", len(b.Text))
				c.Elided++
			case b.Type == llm.BlockToolUse && len(b.Input) > 512:
				out[i].Content[j].Input = elideInput(b.Input)
				c.Elided++
			case b.Type == llm.BlockText && len(b.Text) > 2048 && out[i].Role == llm.RoleUser:
				out[i].Content[j].Text = fmt.Sprintf("(elided to save context: %d bytes of an earlier file listing or prompt)", len(b.Text))
				c.Elided++
			}
		}
	}
	// Drop earlier prompts whole: cut at a user message that starts a prompt
	// (no tool results), so the rest stays a valid conversation.
	for estimateTokens(out) > limit {
		cut := -1
		for i := 1; i < len(out)-1; i++ {
			if out[i].Role == llm.RoleUser && !hasToolResult(out[i]) {
				cut = i
				break
			}
		}
		if cut < 0 {
			break
		}
		c.Dropped += cut
		note := llm.Block{Type: llm.BlockText, Text: fmt.Sprintf("(The %d oldest messages of this conversation were left out to fit the context window. The files in the workspace are current.)", c.Dropped)}
		first := llm.Message{Role: llm.RoleUser, Content: append([]llm.Block{note}, out[cut].Content...)}
		out = append([]llm.Message{first}, out[cut+1:]...)
	}
	c.After = estimateTokens(out)
	return out, c
}

func hasToolResult(m llm.Message) bool {
	return slices.ContainsFunc(m.Content, func(b llm.Block) bool { return b.Type == llm.BlockToolResult })
}

// elideInput keeps a tool input's path and drops its big fields.
func elideInput(raw json.RawMessage) json.RawMessage {
	var in map[string]any
	if json.Unmarshal(raw, &in) != nil {
		return json.RawMessage(`{"elided":"input removed to save context"}`)
	}
	for k, v := range in {
		if s, ok := v.(string); ok && len(s) > 256 {
			in[k] = fmt.Sprintf("(elided to save context: %d bytes)", len(s))
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return json.RawMessage(`{"elided":"input removed to save context"}`)
	}
	return b
}
