package toolbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// ProcessLogs streams the output lines of a background process to fn (see
// sandbox.Provider.ProcessLogs). An unknown name wraps ErrProcessNotFound.
func (c *Client) ProcessLogs(ctx context.Context, req sandbox.LogsRequest, fn func(sandbox.LogLine) error) error {
	q := url.Values{}
	q.Set("after", strconv.FormatInt(req.After, 10))
	q.Set("limit", strconv.Itoa(req.Limit))
	if req.Follow {
		q.Set("follow", "1")
	}
	path := "/v1/processes/" + url.PathEscape(req.Name) + "/logs"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://toolbox"+path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("toolbox: build logs request: %w", err)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("toolbox: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("toolbox: process %q: %w", req.Name, ErrProcessNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{method: http.MethodGet, path: path, code: resp.StatusCode, msg: readErrorBody(resp)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("toolbox: decode log line: %w", err)
		}
		if err := fn(sandbox.LogLine{Seq: e.Seq, Time: e.Time, Stream: e.Stream, Line: e.Line}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("toolbox: read logs: %w", err)
	}
	return nil
}

// OpenTerminal starts a shell on a pseudo-terminal in the workspace.
func (c *Client) OpenTerminal(ctx context.Context, cols, rows int) (sandbox.Terminal, error) {
	if err := checkSize(cols, rows); err != nil {
		return nil, err
	}
	u := "ws://toolbox/v1/terminal?cols=" + strconv.Itoa(cols) + "&rows=" + strconv.Itoa(rows)
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.hc})
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("toolbox: open terminal: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	return &terminalConn{ws: ws}, nil
}

// terminalConn is the host's end of a toolbox terminal.
type terminalConn struct {
	ws *websocket.Conn
}

func (t *terminalConn) Output(ctx context.Context) ([]byte, error) {
	for {
		typ, data, err := t.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		if typ == websocket.MessageBinary {
			return data, nil
		}
	}
}

func (t *terminalConn) Input(ctx context.Context, p []byte) error {
	return t.ws.Write(ctx, websocket.MessageBinary, p)
}

func (t *terminalConn) Resize(ctx context.Context, cols, rows int) error {
	if err := checkSize(cols, rows); err != nil {
		return err
	}
	b, err := json.Marshal(ResizeMessage{Type: "resize", Cols: cols, Rows: rows})
	if err != nil {
		return err
	}
	return t.ws.Write(ctx, websocket.MessageText, b)
}

func (t *terminalConn) Close() error {
	return t.ws.Close(websocket.StatusNormalClosure, "")
}
