package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// Retry policy. Rate limits (429) and gateway failures (502-504) are
// retried for every request: the server did not act on it. A 500 or a
// broken connection may come after the server acted, so only idempotent
// requests are resent then.
const (
	maxAttempts = 4
	baseDelay   = 250 * time.Millisecond
	maxDelay    = 5 * time.Second
	// maxRetryWait is the longest server-requested wait honoured; a 429
	// that asks for more is returned at once, saying when to retry.
	maxRetryWait = 30 * time.Second
	// maxBody caps a JSON answer read into memory.
	maxBody = 16 << 20
)

// call is one HTTP request to the API or a toolbox.
type call struct {
	method string
	base   string // API URL or toolbox base, without a trailing slash
	path   string
	query  url.Values
	body   []byte
	ctype  string
	// limit caps the body read (0: maxBody); a longer body is cut.
	limit int64
}

func (c call) idempotent() bool {
	switch c.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// api calls the control-plane API with in as the JSON body (nil: none) and
// decodes the answer into out (nil: discarded).
func (p *Provider) api(ctx context.Context, method, path string, query url.Values, in, out any) error {
	c := call{method: method, base: p.apiURL.String(), path: path, query: query}
	return p.doJSON(ctx, c, in, out)
}

func (p *Provider) doJSON(ctx context.Context, c call, in, out any) error {
	c, err := withJSON(c, in)
	if err != nil {
		return err
	}
	_, body, err := p.do(ctx, c)
	if err != nil {
		return err
	}
	return decodeJSON(c, body, out)
}

// withJSON sets in (nil: nothing) as c's JSON body.
func withJSON(c call, in any) (call, error) {
	if in == nil {
		return c, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return c, fmt.Errorf("daytona: encode %s %s: %w", c.method, c.path, err)
	}
	c.body, c.ctype = b, "application/json"
	return c, nil
}

// decodeJSON decodes an answer into out (nil: discarded).
func decodeJSON(c call, body []byte, out any) error {
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("daytona: decode answer of %s %s: %w", c.method, c.path, err)
	}
	return nil
}

// do sends c, retrying as the policy above says, and returns the status
// and body of a 2xx answer, or an *APIError.
func (p *Provider) do(ctx context.Context, c call) (int, []byte, error) {
	u := c.base + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	limit := c.limit
	if limit <= 0 {
		limit = maxBody
	}
	for attempt := 1; ; attempt++ {
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		req, err := http.NewRequestWithContext(ctx, c.method, u, body)
		if err != nil {
			return 0, nil, fmt.Errorf("daytona: build %s %s: %w", c.method, c.path, err)
		}
		p.authorize(req.Header)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := p.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, fmt.Errorf("daytona: %s %s: %w", c.method, c.path, ctx.Err())
			}
			err = fmt.Errorf("daytona: %s %s: %w", c.method, c.path, err)
			if !c.idempotent() || attempt >= maxAttempts {
				return 0, nil, err
			}
			if serr := p.backoff(ctx, attempt, 0, err); serr != nil {
				return 0, nil, serr
			}
			continue
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, limit))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if rerr != nil {
				return 0, nil, fmt.Errorf("daytona: read answer of %s %s: %w", c.method, c.path, rerr)
			}
			return resp.StatusCode, data, nil
		}
		apiErr := newAPIError(c.method, c.path, resp, data)
		if !p.shouldRetry(c, apiErr) || attempt >= maxAttempts || apiErr.RetryAfter > maxRetryWait {
			return 0, nil, apiErr
		}
		if serr := p.backoff(ctx, attempt, apiErr.RetryAfter, apiErr); serr != nil {
			return 0, nil, serr
		}
	}
}

func (p *Provider) shouldRetry(c call, e *APIError) bool {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return true
	case e.Status == http.StatusBadGateway, e.Status == http.StatusServiceUnavailable, e.Status == http.StatusGatewayTimeout:
		return true
	case e.Status >= 500:
		return c.idempotent()
	}
	return false
}

// backoff waits before try attempt+1: what the server asked for, else
// baseDelay·2^(attempt-1) less up to a quarter of jitter, capped.
func (p *Provider) backoff(ctx context.Context, attempt int, asked time.Duration, cause error) error {
	d := asked
	if d <= 0 {
		d = min(baseDelay<<min(attempt-1, 16), maxDelay)
		d -= time.Duration(rand.Int64N(int64(d)/4 + 1))
	}
	p.log.Warn("retrying Daytona request", "attempt", attempt, "delay", d, "err", cause)
	if err := p.sleep(ctx, d); err != nil {
		return fmt.Errorf("waiting to retry (%v): %w", cause, err)
	}
	return nil
}

// authorize sets the headers every API and toolbox request carries. The
// SDK version makes the toolbox answer logs as JSON and keep the stream
// markers.
func (p *Provider) authorize(h http.Header) {
	h.Set("Authorization", "Bearer "+p.apiKey)
	h.Set("X-Daytona-Source", sourceName)
	h.Set("X-Daytona-SDK-Version", sdkVersion)
	h.Set("User-Agent", "quickvibe (daytona engine)")
}

// authHeader returns fresh headers for a WebSocket dial.
func (p *Provider) authHeader() http.Header {
	h := make(http.Header)
	p.authorize(h)
	return h
}

// isStatus reports whether err is an *APIError with that status.
func isStatus(err error, status int) bool {
	apiErr, ok := errors.AsType[*APIError](err)
	return ok && apiErr.Status == status
}
