package toolbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// DialFunc opens a fresh connection to the toolbox.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Client talks to one toolbox from the host.
type Client struct {
	dial DialFunc
	tr   *http.Transport
	hc   *http.Client
}

// NewClient returns a client that reaches the toolbox through dial.
func NewClient(dial DialFunc) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	// No client-wide timeout: exec can legitimately run for minutes; callers
	// bound every call with their context.
	return &Client{dial: dial, tr: tr, hc: &http.Client{Transport: tr}}
}

// NewUnixClient returns a client that dials the Unix socket at path.
func NewUnixClient(path string) *Client {
	return NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	})
}

// Close releases idle connections.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
}

// Health succeeds when the toolbox answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/health", nil, nil)
}

// Exec runs one shell command and waits for it.
func (c *Client) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.ExecResult, error) {
	var resp execResponse
	err := c.do(ctx, http.MethodPost, "/v1/exec",
		execRequest{Command: req.Command, TimeoutSeconds: req.Timeout.Seconds()}, &resp)
	if err != nil {
		return sandbox.ExecResult{}, err
	}
	return sandbox.ExecResult{
		ExitCode:  resp.ExitCode,
		Output:    resp.Output,
		TimedOut:  resp.TimedOut,
		Truncated: resp.Truncated,
	}, nil
}

// StartProcess starts (or replaces) a named background process.
func (c *Client) StartProcess(ctx context.Context, req sandbox.ProcessRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/processes", processRequest{Name: req.Name, Command: req.Command, Restart: req.Restart}, nil)
}

// Process reports on a background process; an unknown name wraps
// ErrProcessNotFound.
func (c *Client) Process(ctx context.Context, name string) (sandbox.ProcessStatus, error) {
	var resp processResponse
	err := c.do(ctx, http.MethodGet, "/v1/processes/"+url.PathEscape(name), nil, &resp)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return sandbox.ProcessStatus{}, fmt.Errorf("toolbox: process %q: %w", name, ErrProcessNotFound)
	}
	if err != nil {
		return sandbox.ProcessStatus{}, err
	}
	return sandbox.ProcessStatus{
		Name:       resp.Name,
		Running:    resp.Running,
		ExitCode:   resp.ExitCode,
		OutputTail: resp.OutputTail,
		Restarts:   resp.Restarts,
	}, nil
}

// DialPort connects to 127.0.0.1:port inside the sandbox through an HTTP
// upgrade on a fresh toolbox connection. If nothing listens there the error
// wraps ErrPortNotAnswering.
func (c *Client) DialPort(ctx context.Context, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("toolbox: invalid port %d", port)
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("toolbox: connect: %w", err)
	}
	// Bound the handshake by ctx; the returned connection has no deadline.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	req, err := http.NewRequest(http.MethodGet, "http://toolbox/v1/dial/"+strconv.Itoa(port), nil)
	if err != nil {
		stop()
		conn.Close()
		return nil, fmt.Errorf("toolbox: build dial request: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	br := bufio.NewReader(conn)
	var resp *http.Response
	if err = req.Write(conn); err == nil {
		resp, err = http.ReadResponse(br, req)
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("toolbox: dial port %d: %w", port, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("toolbox: dial port %d: %w", port, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg := readErrorBody(resp)
		conn.Close()
		if resp.StatusCode == http.StatusBadGateway {
			return nil, fmt.Errorf("toolbox: dial port %d: %s: %w", port, msg, ErrPortNotAnswering)
		}
		return nil, fmt.Errorf("toolbox: dial port %d: %s: %s", port, resp.Status, msg)
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("toolbox: encode %s request: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://toolbox"+path, body)
	if err != nil {
		return fmt.Errorf("toolbox: build %s request: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("toolbox: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{method: method, path: path, code: resp.StatusCode, msg: readErrorBody(resp)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("toolbox: decode %s response: %w", path, err)
	}
	return nil
}

func readErrorBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e errorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	if len(b) == 0 {
		return resp.Status
	}
	return string(bytes.TrimSpace(b))
}

// statusError is a non-200 answer of the toolbox.
type statusError struct {
	method, path string
	code         int
	msg          string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("toolbox: %s %s: %d %s: %s", e.method, e.path, e.code, http.StatusText(e.code), e.msg)
}

// bufferedConn is a net.Conn whose reads first drain a bufio.Reader that
// already consumed bytes from the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection so proxies can forward EOF.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.New("toolbox: connection does not support half-close")
}
