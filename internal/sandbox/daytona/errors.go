package daytona

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// APIError is a failed answer of Daytona's API or of a sandbox's toolbox.
// Error is a sentence fit for events and logs; it never holds the API key.
type APIError struct {
	Status int
	// Message is Daytona's own explanation (the body's message).
	Message string
	Method  string
	// Path is the request path, without query (it never carries secrets).
	Path string
	// Throttler names the rate limiter of a 429 ("sandbox-create", ...).
	Throttler string
	// RetryAfter is how long a 429 (or 503) asked to wait; zero if unsaid.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%s %s)", e.UserMessage(), e.Method, e.Path)
}

// UserMessage is what a run's error event says: the sentence without the
// request, which names nothing of the server's configuration but the
// setting an operator has to fix.
func (e *APIError) UserMessage() string {
	var what string
	switch {
	case e.Status == http.StatusUnauthorized:
		what = "Daytona rejected the API key (DAYTONA_API_KEY)"
	case e.Status == http.StatusTooManyRequests:
		what = "Daytona rate limited the request"
		if e.Throttler != "" {
			what += " (" + e.Throttler + " limit)"
		}
		if e.RetryAfter > 0 {
			what += fmt.Sprintf("; retry after %s", e.RetryAfter.Round(time.Second))
		} else {
			what += "; retry later"
		}
	case e.IsQuota():
		what = "Daytona quota exceeded"
	case e.Status == http.StatusForbidden:
		what = "Daytona refused access (the API key lacks a permission, or the organization is suspended)"
	case e.Status == http.StatusNotFound:
		what = "Daytona found no such resource"
	case e.Status == http.StatusConflict:
		what = "Daytona reported a conflict"
	case e.Status == http.StatusRequestTimeout:
		what = "the command timed out in the Daytona sandbox"
	case e.Status >= 500:
		what = fmt.Sprintf("Daytona server error %d", e.Status)
	case e.Status == http.StatusBadRequest:
		what = "Daytona rejected the request"
	default:
		what = fmt.Sprintf("Daytona answered %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		what += ": " + e.Message
	}
	return what
}

// Unwrap lets errors.Is(err, sandbox.ErrNotFound) see a 404.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return sandbox.ErrNotFound
	}
	return nil
}

// IsQuota reports whether Daytona refused for an organization limit, such
// as "Total CPU limit exceeded. Maximum allowed: 10." (a 400) or "Sandbox
// resource limit reached" (self-hosted).
func (e *APIError) IsQuota() bool {
	if e.Status != http.StatusBadRequest && e.Status != http.StatusForbidden {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "limit exceeded") || strings.Contains(m, "limit reached") || strings.Contains(m, "quota")
}

// Retryable reports whether sending the same request again may succeed.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// RetryDelay is the wait the server asked for; zero means none.
func (e *APIError) RetryDelay() time.Duration { return e.RetryAfter }

// errorBody covers both error shapes: NestJS on the API
// ({statusCode,error,message}) and the daemon's on the toolbox
// ({statusCode,message,code}). NestJS validation sends message as a list.
type errorBody struct {
	Message json.RawMessage `json:"message"`
	Error   string          `json:"error"`
	Code    string          `json:"code"`
}

// newAPIError reads what a failed response says.
func newAPIError(method, path string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Path: path}
	var b errorBody
	if json.Unmarshal(body, &b) == nil {
		var s string
		var list []string
		switch {
		case json.Unmarshal(b.Message, &s) == nil:
			e.Message = s
		case json.Unmarshal(b.Message, &list) == nil:
			e.Message = strings.Join(list, "; ")
		}
		if e.Message == "" {
			e.Message = b.Error
		}
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) < 300 && !strings.HasPrefix(text, "<") {
		e.Message = text
	}
	e.Throttler, e.RetryAfter = retryAfter(resp.Header, time.Now())
	return e
}

// retryAfter reads Retry-After and Daytona's Retry-After-{throttler}
// headers and returns the longest wait they ask for and, if one of the
// throttled variants said so, the throttler's name.
func retryAfter(h http.Header, now time.Time) (throttler string, wait time.Duration) {
	for key, vals := range h {
		canon := http.CanonicalHeaderKey(key)
		if !strings.HasPrefix(canon, "Retry-After") || len(vals) == 0 {
			continue
		}
		d, ok := parseRetryAfter(vals[0], now)
		if !ok || d < wait {
			continue
		}
		wait = d
		if name, found := strings.CutPrefix(canon, "Retry-After-"); found {
			throttler = strings.ToLower(name)
		}
	}
	if throttler == "" {
		// Only the rate-limit headers named it.
		for key := range h {
			if name, found := strings.CutPrefix(http.CanonicalHeaderKey(key), "X-Ratelimit-Remaining-"); found && h.Get(key) == "0" {
				throttler = strings.ToLower(name)
			}
		}
	}
	return throttler, wait
}

// parseRetryAfter takes seconds (Daytona's form) or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
