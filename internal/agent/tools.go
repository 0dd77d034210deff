package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Tool names; other parts and test doubles rely on them.
const (
	ToolWriteFile  = "write_file"
	ToolEditFile   = "edit_file"
	ToolReadFile   = "read_file"
	ToolListFiles  = "list_files"
	ToolRunCommand = "run_command"
	ToolDeleteFile = "delete_file"
)

// Limits on what goes back to the model and to observers.
const (
	maxReadBytes      = 256 << 10
	maxCommandOutput  = 30 << 10
	maxEventOutput    = 2 << 10
	commandGraceDelay = 30 * time.Second
)

// toolDefs are the tools offered to the model; the run_command schema tells
// the real default timeout.
func toolDefs(commandTimeout time.Duration) []llm.Tool {
	return []llm.Tool{
		{
			Name:        ToolWriteFile,
			Description: "Create a file or replace its whole content. Parent directories are created. Always send the complete content.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"path":{"type":"string","description":"File path relative to the workspace root, e.g. index.html or css/style.css"},` +
				`"content":{"type":"string","description":"The complete content of the file"}},` +
				`"required":["path","content"]}`),
		},
		{
			Name:        ToolEditFile,
			Description: "Replace one exact piece of text in an existing file. old_string must appear exactly once in the file, whitespace and indentation included; add surrounding lines to make it unique.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"path":{"type":"string","description":"File path relative to the workspace root"},` +
				`"old_string":{"type":"string","description":"The exact text to replace"},` +
				`"new_string":{"type":"string","description":"The text to put in its place"}},` +
				`"required":["path","old_string","new_string"]}`),
		},
		{
			Name:        ToolReadFile,
			Description: "Read a text file of the workspace.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"path":{"type":"string","description":"File path relative to the workspace root"}},` +
				`"required":["path"]}`),
		},
		{
			Name:        ToolListFiles,
			Description: "List the files of the workspace, or of one directory, recursively.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"path":{"type":"string","description":"Directory relative to the workspace root; omit it for the whole workspace"}}}`),
		},
		{
			Name:        ToolRunCommand,
			Description: "Run a shell command (sh -c) in the workspace root and get its exit code and output. Only for quick commands that finish on their own; never start servers or watchers.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"command":{"type":"string","description":"The shell command"},` +
				`"timeout_seconds":{"type":"integer","description":"Time limit in seconds (default ` +
				fmt.Sprint(int(commandTimeout.Seconds())) + `, at most ` + fmt.Sprint(int(MaxCommandTimeout.Seconds())) + `)"}},` +
				`"required":["command"]}`),
		},
		{
			Name:        ToolDeleteFile,
			Description: "Delete a file of the workspace.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"path":{"type":"string","description":"File path relative to the workspace root"}},` +
				`"required":["path"]}`),
		},
	}
}

// toolError is a failure the model can read and act on; it never ends a run.
type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func toolErrorf(format string, args ...any) error {
	return &toolError{msg: fmt.Sprintf(format, args...)}
}

// executor runs the tools of one Run.
type executor struct {
	ws      Workspace
	opts    Options
	changed map[string]bool
}

// run executes one tool call. It returns the event and the tool_result for
// the model, or a fatal error that must end the run. A tool failure is a
// result with IsError set, and ev.Error says what went wrong.
func (x *executor) run(ctx context.Context, use llm.Block) (ev ToolEvent, res llm.Block, fatal error) {
	ev = ToolEvent{ID: use.ToolUseID, Name: use.Name}
	var (
		text string
		err  error
	)
	switch use.Name {
	case ToolWriteFile:
		text, err = x.writeFile(ctx, use.Input, &ev)
	case ToolEditFile:
		text, err = x.editFile(ctx, use.Input, &ev)
	case ToolReadFile:
		text, err = x.readFile(ctx, use.Input, &ev)
	case ToolListFiles:
		text, err = x.listFiles(ctx, use.Input, &ev)
	case ToolRunCommand:
		text, err = x.runCommand(ctx, use.Input, &ev)
	case ToolDeleteFile:
		text, err = x.deleteFile(ctx, use.Input, &ev)
	default:
		err = toolErrorf("unknown tool %q; the tools are %s, %s, %s, %s, %s and %s", use.Name,
			ToolWriteFile, ToolEditFile, ToolReadFile, ToolListFiles, ToolRunCommand, ToolDeleteFile)
	}
	res = llm.Block{Type: llm.BlockToolResult, ToolUseID: use.ToolUseID, Text: text}
	if te, ok := errors.AsType[*toolError](err); ok {
		// Keep a short error set by the tool for the event; the model gets all.
		if ev.Error == "" {
			ev.Error = te.msg
		}
		res.Text, res.IsError = te.msg, true
		return ev, res, nil
	}
	return ev, res, err
}

// wsError sorts a workspace error into a tool error the model can act on or a
// fatal one: cancellation, or a sandbox that is no longer running.
func wsError(ctx context.Context, op, p string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	switch {
	case errors.Is(err, sandbox.ErrNotRunning):
		return fmt.Errorf("%s %s: %w", op, p, err)
	case errors.Is(err, sandbox.ErrPathEscapes):
		return toolErrorf("%s is outside the workspace; use a path relative to the workspace root, such as index.html", p)
	case errors.Is(err, sandbox.ErrIsDirectory):
		return toolErrorf("%s is a directory, not a file", p)
	case errors.Is(err, sandbox.ErrFileTooBig):
		return toolErrorf("%s is too large; keep files small", p)
	case notExist(err):
		return toolErrorf("%s does not exist", p)
	}
	return toolErrorf("could not %s %s: %v", op, p, err)
}

// notExist accepts both ways an engine may say a file is missing.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, sandbox.ErrNotFound)
}

// decodeInput reads a tool's JSON input into v, explaining bad input in
// words the model can fix.
func decodeInput(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return toolErrorf("invalid input: %s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return toolErrorf("invalid input: %v; send a JSON object with the fields of the tool's schema", err)
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + t.Kind().String()
}

// required checks a string field is present (and, unless empty is fine, not empty).
func required(name string, v *string, emptyOK bool) error {
	if v == nil || (!emptyOK && *v == "") {
		return toolErrorf("invalid input: %s is required", name)
	}
	return nil
}

// cleanPath tidies a path the model gave; the workspace decides whether it is
// allowed, as only it can see symlinks and mounts.
func cleanPath(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	return path.Clean(p)
}

// pathArg reads the required path input of a file tool.
func pathArg(v *string) (string, error) {
	if v == nil || cleanPath(*v) == "" {
		return "", toolErrorf("invalid input: path is required")
	}
	return cleanPath(*v), nil
}

func (x *executor) writeFile(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	var in struct {
		Path    *string `json:"path"`
		Content *string `json:"content"`
	}
	if err := decodeInput(raw, &in); err != nil {
		return "", err
	}
	p, err := pathArg(in.Path)
	if err != nil {
		return "", err
	}
	if err := required("content", in.Content, true); err != nil {
		return "", err
	}
	ev.File = p

	old, err := x.ws.ReadFile(ctx, p)
	existed := err == nil
	if err != nil && !notExist(err) {
		return "", wsError(ctx, "read", p, err)
	}
	if m := placeholderMarker(string(old), *in.Content); m != "" {
		return "", toolErrorf("refused: the content contains the placeholder %q, which would delete the code it stands for; write the complete file, or use edit_file to change only part of it", m)
	}
	ev.Action = ActionCreate
	if existed {
		ev.Action = ActionEdit
		if string(old) == *in.Content {
			return fmt.Sprintf("%s already has exactly this content; nothing changed.", p), nil
		}
	}
	if err := x.ws.WriteFile(ctx, p, []byte(*in.Content)); err != nil {
		return "", wsError(ctx, "write", p, err)
	}
	x.changed[p] = true
	ev.LinesAdded, ev.LinesRemoved = lineDiff(string(old), *in.Content)
	if !existed {
		return fmt.Sprintf("Created %s (%d lines).", p, ev.LinesAdded), nil
	}
	return fmt.Sprintf("Replaced %s (+%d -%d lines).", p, ev.LinesAdded, ev.LinesRemoved), nil
}

func (x *executor) editFile(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	var in struct {
		Path      *string `json:"path"`
		OldString *string `json:"old_string"`
		NewString *string `json:"new_string"`
	}
	if err := decodeInput(raw, &in); err != nil {
		return "", err
	}
	p, err := pathArg(in.Path)
	if err != nil {
		return "", err
	}
	if err := required("old_string", in.OldString, false); err != nil {
		return "", toolErrorf("invalid input: old_string is required and must not be empty; use write_file to create a file or replace all of it")
	}
	if err := required("new_string", in.NewString, true); err != nil {
		return "", err
	}
	ev.File = p
	ev.Action = ActionEdit
	oldStr, newStr := *in.OldString, *in.NewString
	if oldStr == newStr {
		return "", toolErrorf("old_string and new_string are the same; nothing to change")
	}

	data, err := x.ws.ReadFile(ctx, p)
	if err != nil {
		if notExist(err) && ctx.Err() == nil {
			return "", toolErrorf("%s does not exist; use write_file to create it", p)
		}
		return "", wsError(ctx, "read", p, err)
	}
	content := string(data)
	switch n := strings.Count(content, oldStr); n {
	case 0:
		return "", toolErrorf("old_string was not found in %s; read the file and copy the text exactly, whitespace and indentation included", p)
	case 1:
	default:
		return "", toolErrorf("old_string appears %d times in %s; include more surrounding lines to make it unique", n, p)
	}
	if m := placeholderMarker(content, newStr); m != "" {
		return "", toolErrorf("refused: new_string contains the placeholder %q, which would delete the code it stands for; put the real text in new_string", m)
	}
	updated := strings.Replace(content, oldStr, newStr, 1)
	if err := x.ws.WriteFile(ctx, p, []byte(updated)); err != nil {
		return "", wsError(ctx, "write", p, err)
	}
	x.changed[p] = true
	ev.LinesAdded, ev.LinesRemoved = lineDiff(content, updated)
	return fmt.Sprintf("Edited %s (+%d -%d lines).", p, ev.LinesAdded, ev.LinesRemoved), nil
}

// singlePath decodes the input of a tool that takes only a file path and
// notes the file and action on ev.
func singlePath(raw json.RawMessage, ev *ToolEvent, action string) (string, error) {
	var in struct {
		Path *string `json:"path"`
	}
	if err := decodeInput(raw, &in); err != nil {
		return "", err
	}
	p, err := pathArg(in.Path)
	if err != nil {
		return "", err
	}
	ev.File, ev.Action = p, action
	return p, nil
}

func (x *executor) readFile(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	p, err := singlePath(raw, ev, ActionRead)
	if err != nil {
		return "", err
	}
	data, err := x.ws.ReadFile(ctx, p)
	if err != nil {
		return "", wsError(ctx, "read", p, err)
	}
	switch {
	case len(data) == 0:
		return fmt.Sprintf("(%s is empty)", p), nil
	case !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0:
		return fmt.Sprintf("(%s is a binary file of %d bytes; not shown)", p, len(data)), nil
	case len(data) > maxReadBytes:
		return fmt.Sprintf("%s\n(truncated: %s has %d bytes, only the first %d are shown)", truncateUTF8(string(data), maxReadBytes), p, len(data), maxReadBytes), nil
	}
	return string(data), nil
}

func (x *executor) listFiles(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	var in struct {
		Path *string `json:"path"`
	}
	if err := decodeInput(raw, &in); err != nil {
		return "", err
	}
	dir := ""
	if in.Path != nil {
		dir = cleanPath(*in.Path)
	}
	if dir == "." {
		dir = ""
	}
	ev.Action = ActionList
	ev.File = dir
	files, err := x.ws.ListFiles(ctx, dir)
	if err != nil {
		shown := dir
		if shown == "" {
			shown = "the workspace"
		}
		return "", wsError(ctx, "list", shown, err)
	}
	listing := formatListing(files)
	if listing == "" {
		if dir == "" {
			return "The workspace is empty.", nil
		}
		return fmt.Sprintf("%s is empty.", dir), nil
	}
	return listing, nil
}

func (x *executor) runCommand(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	var in struct {
		Command        *string  `json:"command"`
		TimeoutSeconds *float64 `json:"timeout_seconds"`
	}
	if err := decodeInput(raw, &in); err != nil {
		return "", err
	}
	if in.Command == nil || strings.TrimSpace(*in.Command) == "" {
		return "", toolErrorf("invalid input: command is required")
	}
	ev.Action = ActionRun
	ev.Command = *in.Command
	timeout := x.opts.CommandTimeout
	if in.TimeoutSeconds != nil && *in.TimeoutSeconds > 0 {
		timeout = min(time.Duration(*in.TimeoutSeconds*float64(time.Second)), MaxCommandTimeout)
	}
	// The engine enforces the timeout; this context is a backstop in case it
	// does not answer.
	execCtx, cancel := context.WithTimeout(ctx, timeout+commandGraceDelay)
	defer cancel()
	res, err := x.ws.Exec(execCtx, sandbox.ExecRequest{Command: *in.Command, Timeout: timeout})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", ctxErr
		}
		if errors.Is(err, sandbox.ErrNotRunning) {
			return "", fmt.Errorf("run command: %w", err)
		}
		if execCtx.Err() != nil {
			return "", toolErrorf("the command did not finish within %s and was stopped", timeout)
		}
		return "", toolErrorf("could not run the command: %v", err)
	}
	ev.ExitCode = res.ExitCode
	ev.Output = tailExcerpt(res.Output, maxEventOutput)

	var b strings.Builder
	fmt.Fprintf(&b, "exit code: %d\n", res.ExitCode)
	if res.Output == "" {
		b.WriteString("(no output)")
	} else {
		b.WriteString(clipMiddle(res.Output, maxCommandOutput))
	}
	if res.Truncated {
		b.WriteString("\n(output truncated by the sandbox)")
	}
	if res.TimedOut {
		ev.Error = fmt.Sprintf("the command did not finish within %s and was stopped; do not start servers or watchers (the platform serves the site)", timeout)
		return "", toolErrorf("%s\n%s", ev.Error, b.String())
	}
	return b.String(), nil
}

func (x *executor) deleteFile(ctx context.Context, raw json.RawMessage, ev *ToolEvent) (string, error) {
	p, err := singlePath(raw, ev, ActionDelete)
	if err != nil {
		return "", err
	}
	old, err := x.ws.ReadFile(ctx, p)
	if err != nil {
		return "", wsError(ctx, "read", p, err)
	}
	if err := x.ws.DeleteFile(ctx, p); err != nil {
		return "", wsError(ctx, "delete", p, err)
	}
	x.changed[p] = true
	ev.LinesRemoved = countLines(string(old))
	return fmt.Sprintf("Deleted %s.", p), nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tailExcerpt keeps the end of s, where errors usually are.
func tailExcerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}

// clipMiddle keeps the start and the end of a long output.
func clipMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head := truncateUTF8(s, n/4)
	tail := strings.TrimPrefix(tailExcerpt(s, n-len(head)), "…")
	return fmt.Sprintf("%s\n… (%d bytes omitted) …\n%s", head, len(s)-len(head)-len(tail), tail)
}
