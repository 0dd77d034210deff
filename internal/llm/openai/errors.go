package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// ErrIncompleteStream means the answer began streaming and broke off before a
// finish reason; llm.WithRetry sends the call again.
var ErrIncompleteStream error = &userError{
	msg:       "model stream ended before the message was complete",
	user:      "the connection to the model API broke off mid-answer; try again",
	retryable: true,
}

// ErrUnreachable means no response came from the endpoint.
var ErrUnreachable error = &userError{
	msg:       "model API unreachable",
	user:      "could not reach the model API; check the network and OPENAI_BASE_URL",
	retryable: true,
}

type userError struct {
	msg, user string
	retryable bool
}

func (e *userError) Error() string       { return e.msg }
func (e *userError) UserMessage() string { return e.user }
func (e *userError) Retryable() bool     { return e.retryable }

// APIError is an error answered by the endpoint, as an HTTP status or as a
// data frame with an error key after HTTP 200 (then InStream is true).
type APIError struct {
	StatusCode int
	Type       string
	Code       string
	Message    string
	InStream   bool
	RetryAfter time.Duration

	err error
}

var (
	_ llm.Retryable    = (*APIError)(nil)
	_ llm.RetryDelayer = (*APIError)(nil)
)

func newAPIError(e *sdk.Error) *APIError {
	out := &APIError{StatusCode: e.StatusCode, Type: e.Type, Code: e.Code, Message: e.Message, err: e}
	if e.Response != nil {
		out.RetryAfter = retryAfter(e.Response.Header)
	}
	return out
}

func streamAPIError(e *ssestream.StreamError) *APIError {
	out := &APIError{StatusCode: http.StatusOK, InStream: true, Message: e.Message, err: e}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(e.Event.Data, &body) == nil && body.Error.Message != "" {
		out.Message, out.Type = body.Error.Message, body.Error.Type
		if body.Error.Code != nil {
			out.Code = fmt.Sprint(body.Error.Code)
		}
	}
	return out
}

// retryAfter reads retry-after-ms, then retry-after in seconds.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("retry-after-ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	if s, err := strconv.ParseFloat(h.Get("retry-after"), 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}

func (e *APIError) Error() string {
	where := fmt.Sprintf("status %d", e.StatusCode)
	if e.InStream {
		where = "in stream"
	}
	return fmt.Sprintf("model API error (%s) %s: %s", where, e.Type, e.Message)
}

func (e *APIError) Unwrap() error { return e.err }

// RetryDelay is the wait the endpoint asked for.
func (e *APIError) RetryDelay() time.Duration { return e.RetryAfter }

// Retryable reports whether the same request may succeed later. An error in
// the stream is retried when it looks like overload or a server failure.
func (e *APIError) Retryable() bool {
	s := e.StatusCode
	if e.InStream {
		switch e.Type {
		case "server_error", "rate_limit_error", "overloaded_error", "api_error", "timeout_error", "":
			return true
		}
		return false
	}
	return s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500
}

// UserMessage explains the error to the person running QuickVibe.
func (e *APIError) UserMessage() string {
	switch s := e.StatusCode; {
	case s == http.StatusUnauthorized:
		return "the model API rejected the key (OPENAI_API_KEY)"
	case s == http.StatusForbidden:
		return "the API key is not allowed to use this model"
	case s == http.StatusNotFound:
		return "the model API does not know this model or endpoint (check QV_MODEL and OPENAI_BASE_URL): " + e.Message
	case s == http.StatusTooManyRequests:
		return "the model API rate limit was reached; try again in a minute"
	case s == 529 || e.Type == "overloaded_error":
		return "the model API is overloaded; try again shortly"
	case s >= 500 || e.InStream:
		return "the model API failed on its side: " + e.Message
	case s == http.StatusBadRequest:
		return "the model API rejected the request: " + e.Message
	}
	return "the model API answered with an error: " + e.Message
}
