package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Labels. Spec.Labels keys are namespaced so QuickVibe's labels cannot
// collide with anyone else's in a shared organization; the managed label
// is what List filters on. The toolbox-language label is what Daytona's
// SDKs set for a TypeScript sandbox (it is not a REST field).
const (
	labelPrefix   = "quickvibe."
	labelManaged  = labelPrefix + "managed"
	labelLanguage = "code-toolbox-language"
)

// Waiting for a state, as Daytona's SDKs do: every 100 ms, then growing by
// a tenth per poll after 5 s up to 1 s, for at most a minute.
const (
	pollFirst   = 100 * time.Millisecond
	pollGrowth  = 5 * time.Second
	pollMax     = time.Second
	waitTimeout = 60 * time.Second
	listPage    = 100
)

// sandboxDTO holds the fields of Daytona's Sandbox (and SandboxListItem)
// this engine reads.
type sandboxDTO struct {
	ID              string            `json:"id"`
	State           string            `json:"state"`
	ErrorReason     string            `json:"errorReason"`
	Labels          map[string]string `json:"labels"`
	ToolboxProxyURL string            `json:"toolboxProxyUrl"`
	CreatedAt       time.Time         `json:"createdAt"`
}

type createRequest struct {
	Snapshot            string            `json:"snapshot,omitempty"`
	Target              string            `json:"target,omitempty"`
	Labels              map[string]string `json:"labels"`
	Env                 map[string]string `json:"env"`
	Public              bool              `json:"public"`
	AutoStopInterval    *int              `json:"autoStopInterval,omitempty"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval,omitempty"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval,omitempty"`
}

// stateOf maps Daytona's state onto the two QuickVibe knows. A sandbox
// counts as running only when Daytona says "started", or while it keeps
// running through a resize, snapshot or fork; every other state (on its
// way up, on its way down, paused, failed, unknown) is stopped: its
// toolbox cannot be used. destroyed and destroying mean gone.
func stateOf(daytonaState string) (sandbox.State, bool) {
	switch daytonaState {
	case "destroyed", "destroying":
		return "", false
	case "started", "resizing", "snapshotting", "forking":
		return sandbox.StateRunning, true
	default:
		return sandbox.StateStopped, true
	}
}

func (d sandboxDTO) info() (sandbox.Info, error) {
	st, ok := stateOf(d.State)
	if !ok {
		return sandbox.Info{}, fmt.Errorf("sandbox %s is %s: %w", d.ID, d.State, sandbox.ErrNotFound)
	}
	return sandbox.Info{ID: d.ID, State: st, Labels: fromDaytonaLabels(d.Labels), CreatedAt: d.CreatedAt}, nil
}

func toDaytonaLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+2)
	for k, v := range labels {
		out[labelPrefix+k] = v
	}
	out[labelManaged] = "true"
	out[labelLanguage] = "typescript"
	return out
}

func fromDaytonaLabels(labels map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range labels {
		if name, ok := strings.CutPrefix(k, labelPrefix); ok && k != labelManaged {
			out[name] = v
		}
	}
	return out
}

func sandboxPath(id string) string { return "/sandbox/" + url.PathEscape(id) }

// Create implements sandbox.Provider: create from the snapshot, wait until
// started, then make the workspace directory. A sandbox that fails on the
// way is deleted again.
func (p *Provider) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Info, error) {
	req := createRequest{
		Snapshot: p.snapshot,
		Target:   p.target,
		Labels:   toDaytonaLabels(spec.Labels),
		// Nothing of the server's environment goes in: the sandbox runs
		// untrusted code.
		Env:                 map[string]string{},
		Public:              false,
		AutoStopInterval:    p.autoStop,
		AutoArchiveInterval: p.autoArchive,
		AutoDeleteInterval:  p.autoDelete,
	}
	var created sandboxDTO
	if err := p.api(ctx, http.MethodPost, "/sandbox", nil, req, &created); err != nil {
		return sandbox.Info{}, fmt.Errorf("create Daytona sandbox: %w", err)
	}
	if created.ID == "" {
		return sandbox.Info{}, errors.New("create Daytona sandbox: the answer named no sandbox id")
	}
	p.log.Info("sandbox created", "id", created.ID, "state", created.State)
	d, err := p.waitStarted(ctx, created)
	if err == nil {
		err = p.makeWorkspace(ctx, d)
	}
	if err != nil {
		p.discard(created.ID)
		return sandbox.Info{}, fmt.Errorf("create Daytona sandbox: %w", err)
	}
	return d.info()
}

// discard deletes a sandbox Create gave up on, even if ctx ended.
func (p *Provider) discard(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.api(ctx, http.MethodDelete, sandboxPath(id), nil, nil, nil); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
		p.log.Error("delete failed sandbox", "id", id, "err", err)
	}
	p.forget(id)
}

func (p *Provider) makeWorkspace(ctx context.Context, d sandboxDTO) error {
	b, err := p.toolboxOf(ctx, d)
	if err != nil {
		return err
	}
	q := url.Values{"path": {b.workDir + "/" + p.workspace}, "mode": {"0755"}}
	c := call{method: http.MethodPost, base: b.url, path: "/files/folder", query: q}
	if _, _, err := p.do(ctx, c); err != nil && !isStatus(err, http.StatusConflict) {
		return fmt.Errorf("make workspace directory: %w", err)
	}
	res, err := p.Exec(ctx, d.ID, sandbox.ExecRequest{Command: installTools(b.workDir + "/" + toolsDir), Timeout: 30 * time.Second})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit code %d: %s", res.ExitCode, res.Output)
	}
	if err != nil {
		return fmt.Errorf("install QuickVibe's commands: %w", err)
	}
	return nil
}

// toolsDir, under the work dir, holds stand-ins for commands of QuickVibe's
// local toolbox that project types use, for snapshots that lack them.
const toolsDir = ".quickvibe/bin"

// qvServeStandIn is qv-serve, the static sites' dev server, as Python's
// http.server (Daytona's snapshots ship python3).
const qvServeStandIn = `#!/bin/sh
port=3000 dir=.
while [ $# -gt 0 ]; do
  case "$1" in --port) port=$2; shift ;; --dir) dir=$2; shift ;; esac
  shift
done
exec python3 -m http.server "$port" --bind 0.0.0.0 --directory "$dir"
`

// installTools is the command that writes the stand-ins into dir.
func installTools(dir string) string {
	serve := shellQuote(dir + "/qv-serve")
	return "mkdir -p " + shellQuote(dir) + " && printf '%s' " + shellQuote(qvServeStandIn) + " > " + serve + " && chmod 755 " + serve
}

// Start implements sandbox.Provider. Starting a started sandbox does
// nothing; one that is still stopping is first waited for.
func (p *Provider) Start(ctx context.Context, id string) error {
	d, err := p.get(ctx, id)
	if err != nil {
		return err
	}
	switch d.State {
	case "started":
		return nil
	case "stopping", "archiving":
		if d, err = p.wait(ctx, d, isStopped, "stopped"); err != nil {
			return fmt.Errorf("start sandbox %s: %w", id, err)
		}
	}
	if d.State != "starting" && d.State != "restoring" {
		if err := p.api(ctx, http.MethodPost, sandboxPath(id)+"/start", nil, nil, &d); err != nil {
			return fmt.Errorf("start sandbox %s: %w", id, err)
		}
	}
	// A restart gives the sandbox a new preview token.
	p.forget(id)
	if _, err := p.waitStarted(ctx, d); err != nil {
		return fmt.Errorf("start sandbox %s: %w", id, err)
	}
	return nil
}

// Stop implements sandbox.Provider and waits until Daytona says stopped.
func (p *Provider) Stop(ctx context.Context, id string) error {
	d, err := p.get(ctx, id)
	if err != nil {
		return err
	}
	p.forget(id)
	if isStopped(d.State) {
		return nil
	}
	if d.State != "stopping" {
		if err := p.api(ctx, http.MethodPost, sandboxPath(id)+"/stop", nil, nil, &d); err != nil {
			return fmt.Errorf("stop sandbox %s: %w", id, err)
		}
	}
	if _, err := p.wait(ctx, d, isStopped, "stopped"); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", id, err)
	}
	return nil
}

func isStopped(state string) bool { return state == "stopped" || state == "archived" }

// Delete implements sandbox.Provider. Daytona destroys the sandbox in the
// background; Get says ErrNotFound from the moment it is destroying.
func (p *Provider) Delete(ctx context.Context, id string) error {
	p.forget(id)
	// Daytona accepts deleting a sandbox that is already being destroyed.
	if _, err := p.get(ctx, id); err != nil {
		return err
	}
	if err := p.api(ctx, http.MethodDelete, sandboxPath(id), nil, nil, nil); err != nil {
		return fmt.Errorf("delete sandbox %s: %w", id, err)
	}
	p.log.Info("sandbox deleted", "id", id)
	return nil
}

// Get implements sandbox.Provider.
func (p *Provider) Get(ctx context.Context, id string) (sandbox.Info, error) {
	d, err := p.get(ctx, id)
	if err != nil {
		return sandbox.Info{}, err
	}
	return d.info()
}

// get fetches a sandbox; a destroyed one wraps sandbox.ErrNotFound.
func (p *Provider) get(ctx context.Context, id string) (sandboxDTO, error) {
	var d sandboxDTO
	if err := p.api(ctx, http.MethodGet, sandboxPath(id), nil, nil, &d); err != nil {
		return sandboxDTO{}, fmt.Errorf("sandbox %s: %w", id, err)
	}
	if _, ok := stateOf(d.State); !ok {
		return sandboxDTO{}, fmt.Errorf("sandbox %s is %s: %w", id, d.State, sandbox.ErrNotFound)
	}
	return d, nil
}

// List implements sandbox.Provider: the sandboxes labelled as QuickVibe's,
// all pages. It reads both list shapes: {items,nextCursor} (Daytona
// v0.180 on) and the bare array of older installs.
func (p *Provider) List(ctx context.Context) ([]sandbox.Info, error) {
	filter, err := json.Marshal(map[string]string{labelManaged: "true"})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	infos := []sandbox.Info{}
	seen := make(map[string]bool)
	cursor := ""
	for {
		q := url.Values{"labels": {string(filter)}, "limit": {fmt.Sprint(listPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		_, body, err := p.do(ctx, call{method: http.MethodGet, base: p.apiURL.String(), path: "/sandbox", query: q})
		if err != nil {
			return nil, fmt.Errorf("list sandboxes: %w", err)
		}
		items, next, err := decodeList(body)
		if err != nil {
			return nil, fmt.Errorf("list sandboxes: %w", err)
		}
		for _, d := range items {
			// The filter is the server's; old installs may ignore it.
			if d.Labels[labelManaged] != "true" || seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			if info, err := d.info(); err == nil {
				infos = append(infos, info)
			}
		}
		if next == "" || next == cursor {
			return infos, nil
		}
		cursor = next
	}
}

// decodeList reads a list page in either shape.
func decodeList(body []byte) ([]sandboxDTO, string, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var items []sandboxDTO
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, "", fmt.Errorf("decode sandbox list: %w", err)
		}
		return items, "", nil
	}
	var page struct {
		Items      []sandboxDTO `json:"items"`
		NextCursor *string      `json:"nextCursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("decode sandbox list: %w", err)
	}
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	return page.Items, next, nil
}

// waitStarted waits until d is started and fails on error states.
func (p *Provider) waitStarted(ctx context.Context, d sandboxDTO) (sandboxDTO, error) {
	return p.wait(ctx, d, func(s string) bool { return s == "started" }, "started")
}

// wait polls the sandbox until done(state), like Daytona's SDKs. It fails
// at once on error or build_failed, naming Daytona's errorReason, when
// the sandbox is destroyed, after waitTimeout, or when ctx ends.
func (p *Provider) wait(ctx context.Context, d sandboxDTO, done func(string) bool, want string) (sandboxDTO, error) {
	start := p.now()
	interval := pollFirst
	for {
		switch {
		case done(d.State):
			return d, nil
		case d.State == "error" || d.State == "build_failed":
			reason := d.ErrorReason
			if reason == "" {
				reason = "Daytona gave no reason"
			}
			return d, &StateError{ID: d.ID, State: d.State, Want: want, Reason: reason}
		case d.State == "destroyed" || d.State == "destroying":
			return d, fmt.Errorf("sandbox %s was deleted while waiting for it to become %s: %w", d.ID, want, sandbox.ErrNotFound)
		}
		elapsed := p.now().Sub(start)
		if elapsed >= waitTimeout {
			return d, &StateError{ID: d.ID, State: d.State, Want: want, Reason: fmt.Sprintf("still %s after %s", d.State, waitTimeout)}
		}
		if elapsed >= pollGrowth {
			interval = min(interval+interval/10, pollMax)
		}
		if err := p.sleep(ctx, interval); err != nil {
			return d, fmt.Errorf("waiting for sandbox %s to become %s: %w", d.ID, want, err)
		}
		next, err := p.get(ctx, d.ID)
		if err != nil {
			return d, err
		}
		d = next
	}
}

// StateError is a sandbox that did not reach the state a call waited for.
type StateError struct {
	ID, State, Want string
	// Reason is Daytona's errorReason, or what the wait saw.
	Reason string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("sandbox %s failed to become %s: state %s: %s", e.ID, e.Want, e.State, e.Reason)
}

// UserMessage is what a run's error event says.
func (e *StateError) UserMessage() string {
	return fmt.Sprintf("the Daytona sandbox did not become %s (state %s): %s", e.Want, e.State, e.Reason)
}
