// Package client is a Go client of QuickVibe's HTTP API, used by the command
// line and by end-to-end tests.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one QuickVibe server as one user.
type Client struct {
	BaseURL string
	// Token is an API token sent as a bearer token; without one, the
	// client relies on the session cookie set by Login or Setup.
	Token string
	HTTP  *http.Client
}

// New makes a client with a cookie jar, so Login keeps the session.
func New(baseURL, token string) *Client {
	jar, _ := cookiejar.New(nil) // cookiejar.New never fails without options
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Jar: jar}}
}

// Error is an error answer of the API.
type Error struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func readError(resp *http.Response) error {
	var body struct {
		Error Error `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Message == "" {
		return &Error{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(b))}
	}
	body.Error.Status = resp.StatusCode
	return &body.Error
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	req, err := c.newRequest(ctx, method, path, in)
	if err != nil {
		return err
	}
	return c.do(req, out)
}

type User struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	IsAdmin bool   `json:"isAdmin"`
}

type Status struct {
	Version       string `json:"version"`
	SetupRequired bool   `json:"setupRequired"`
	Model         struct {
		Configured bool   `json:"configured"`
		Provider   string `json:"provider"`
		Model      string `json:"model"`
		Reason     string `json:"reason"`
	} `json:"model"`
	Sandbox struct {
		Engine string `json:"engine"`
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	} `json:"sandbox"`
}

func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, http.MethodGet, "/api/status", nil, &s)
	return s, err
}

// Setup creates the first user and signs in as it.
func (c *Client) Setup(ctx context.Context, email, password string) (User, error) {
	var out struct{ User User }
	err := c.call(ctx, http.MethodPost, "/api/auth/setup", map[string]string{"email": email, "password": password}, &out)
	return out.User, err
}

// Login signs in; the session cookie is kept in the client's jar.
func (c *Client) Login(ctx context.Context, email, password string) (User, error) {
	var out struct{ User User }
	err := c.call(ctx, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password}, &out)
	return out.User, err
}

// CreateToken makes an API token; it is returned once.
func (c *Client) CreateToken(ctx context.Context, name string) (string, error) {
	var out struct{ Token string }
	err := c.call(ctx, http.MethodPost, "/api/auth/tokens", map[string]string{"name": name}, &out)
	return out.Token, err
}

type Project struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	SandboxID    string    `json:"sandboxId"`
	SandboxState string    `json:"sandboxState"`
	PreviewURL   string    `json:"previewUrl"`
	CreatedAt    time.Time `json:"createdAt"`
}

func (c *Client) CreateProject(ctx context.Context, name, typ string) (Project, error) {
	var p Project
	err := c.call(ctx, http.MethodPost, "/api/projects", map[string]string{"name": name, "type": typ}, &p)
	return p, err
}

func (c *Client) Project(ctx context.Context, id string) (Project, error) {
	var p Project
	err := c.call(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(id), nil, &p)
	return p, err
}

func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	var out struct{ Projects []Project }
	err := c.call(ctx, http.MethodGet, "/api/projects", nil, &out)
	return out.Projects, err
}

type File struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	IsDir bool   `json:"isDir"`
}

func (c *Client) Files(ctx context.Context, projectID string) ([]File, error) {
	var out struct{ Files []File }
	err := c.call(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(projectID)+"/files", nil, &out)
	return out.Files, err
}

// File returns the bytes of one workspace file.
func (c *Client) File(ctx context.Context, projectID, path string) ([]byte, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(projectID)+"/files/"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readError(resp)
	}
	return io.ReadAll(resp.Body)
}

// Prompt starts a run and returns its id.
func (c *Client) Prompt(ctx context.Context, projectID, prompt string) (string, error) {
	var out struct{ RunID string }
	err := c.call(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(projectID)+"/prompts", map[string]string{"prompt": prompt}, &out)
	return out.RunID, err
}

func (c *Client) CancelRun(ctx context.Context, runID string) error {
	return c.call(ctx, http.MethodPost, "/api/runs/"+url.PathEscape(runID)+"/cancel", struct{}{}, nil)
}

// Event is one event of a run's stream.
type Event struct {
	ID    string          `json:"-"` // the SSE id: field
	Name  string          `json:"-"` // the SSE event: field
	Type  string          `json:"type"`
	Seq   int64           `json:"seq"`
	RunID string          `json:"runId"`
	Data  json.RawMessage `json:"data"`
}

// Terminal reports whether e ends its run.
func (e Event) Terminal() bool { return e.Type == "complete" || e.Type == "error" }

// ErrStop, returned by an event callback, ends a stream without error.
var ErrStop = errors.New("client: stop streaming")

// StreamEvents follows a run's events after afterSeq (as Last-Event-ID)
// until the server closes the stream, fn returns an error, or ctx ends.
func (c *Client) StreamEvents(ctx context.Context, runID string, afterSeq int64, fn func(Event) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(runID)+"/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if afterSeq > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(afterSeq, 10))
	}
	return c.stream(req, fn)
}

// PromptStream starts a run and reads its events from the same response.
func (c *Client) PromptStream(ctx context.Context, projectID, prompt string, fn func(Event) error) (runID string, err error) {
	req, err := c.newRequest(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(projectID)+"/prompts", map[string]string{"prompt": prompt})
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	err = c.stream(req, func(e Event) error {
		runID = e.RunID
		return fn(e)
	})
	return runID, err
}

func (c *Client) stream(req *http.Request, fn func(Event) error) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("expected an event stream, got %q", ct)
	}
	err = ReadSSE(resp.Body, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ReadSSE parses an SSE stream, calling fn per event; comments (heartbeats)
// and retry lines are skipped.
func ReadSSE(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var ev Event
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
					return fmt.Errorf("decode event %s: %w", ev.ID, err)
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = Event{}, strings.Builder{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			ev.Name = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(line[5:], " "))
		}
	}
	return sc.Err()
}
