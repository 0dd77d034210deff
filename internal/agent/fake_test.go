package agent_test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/anthropictest"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// memWorkspace is an in-memory Workspace. It refuses escaping paths the way
// engines do, and runs commands through exec.
type memWorkspace struct {
	mu    sync.Mutex
	files map[string]string
	exec  func(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error)
}

var _ agent.Workspace = (*memWorkspace)(nil)

func newWorkspace(files map[string]string) *memWorkspace {
	if files == nil {
		files = map[string]string{}
	}
	return &memWorkspace{files: files}
}

func resolve(p string) (string, error) {
	c := path.Clean(p)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("resolve %q: %w", p, sandbox.ErrPathEscapes)
	}
	return c, nil
}

func (w *memWorkspace) ReadFile(_ context.Context, p string) ([]byte, error) {
	c, err := resolve(p)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	data, ok := w.files[c]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", c, fs.ErrNotExist)
	}
	return []byte(data), nil
}

func (w *memWorkspace) WriteFile(_ context.Context, p string, data []byte) error {
	c, err := resolve(p)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[c] = string(data)
	return nil
}

func (w *memWorkspace) DeleteFile(_ context.Context, p string) error {
	c, err := resolve(p)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.files[c]; !ok {
		return fmt.Errorf("delete %s: %w", c, fs.ErrNotExist)
	}
	delete(w.files, c)
	return nil
}

func (w *memWorkspace) ListFiles(_ context.Context, dir string) ([]sandbox.FileInfo, error) {
	prefix := ""
	if dir != "" && dir != "." {
		c, err := resolve(dir)
		if err != nil {
			return nil, err
		}
		prefix = c + "/"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	dirs := map[string]bool{}
	var out []sandbox.FileInfo
	for _, p := range slices.Sorted(maps.Keys(w.files)) {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		for d := path.Dir(p); d != "." && d+"/" != prefix && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			out = append(out, sandbox.FileInfo{Path: d, IsDir: true})
		}
		out = append(out, sandbox.FileInfo{Path: p, Size: int64(len(w.files[p]))})
	}
	return out, nil
}

func (w *memWorkspace) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	if w.exec == nil {
		return sandbox.ExecResult{}, fmt.Errorf("exec %q: no exec in this test", req.Command)
	}
	return w.exec(ctx, req)
}

func (w *memWorkspace) file(p string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.files[p]
	return s, ok
}

// recorder is an Observer that notes every call in order.
type recorder struct {
	events []string
	tools  []agent.ToolEvent
	deltas []string
	usages []llm.Usage
	// onToolStarted, when set, runs inside ToolStarted.
	onToolStarted func(id, name string)
}

func (r *recorder) TextDelta(text string) {
	r.deltas = append(r.deltas, text)
	r.events = append(r.events, "delta:"+text)
}

func (r *recorder) AssistantText(text string) { r.events = append(r.events, "text:"+text) }

func (r *recorder) ToolStarted(id, name string) {
	r.events = append(r.events, "started:"+id+":"+name)
	if r.onToolStarted != nil {
		r.onToolStarted(id, name)
	}
}

func (r *recorder) ToolFinished(ev agent.ToolEvent) {
	r.tools = append(r.tools, ev)
	r.events = append(r.events, "finished:"+ev.ID)
}

func (r *recorder) Usage(u llm.Usage) {
	r.usages = append(r.usages, u)
	r.events = append(r.events, "usage")
}

// newAgent wires the real Anthropic model to a fake API server.
func newAgent(t *testing.T, opts agent.Options, serverOpts ...anthropictest.Option) (*anthropictest.Server, *agent.Agent) {
	t.Helper()
	s := anthropictest.NewServer(t, serverOpts...)
	m, err := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: s.URL(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s, agent.New(m, opts)
}

// lastMessage is the last message of the i-th request.
func lastMessage(t *testing.T, s *anthropictest.Server, i int) anthropictest.Message {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) <= i {
		t.Fatalf("only %d requests, want request %d", len(reqs), i)
	}
	msgs := reqs[i].Messages
	return msgs[len(msgs)-1]
}

// toolResults are the tool_result blocks of the i-th request's last message.
func toolResults(t *testing.T, s *anthropictest.Server, i int) []anthropictest.Content {
	t.Helper()
	var out []anthropictest.Content
	for _, c := range lastMessage(t, s, i).Content {
		if c.Type == "tool_result" {
			out = append(out, c)
		}
	}
	return out
}
