package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// ErrIncompleteStream means the answer began streaming and then broke off:
// the connection dropped or the stream ended without message_stop. The SDK
// does not retry this (its retries cover only the request); a caller may run
// the turn again.
var ErrIncompleteStream error = &userError{
	msg:       "model stream ended before the message was complete",
	user:      "the connection to the model API broke off mid-answer; try again",
	retryable: true,
}

// ErrUnreachable means no response came from the model API (after the SDK's
// retries): DNS, refused or reset connections, TLS.
var ErrUnreachable error = &userError{
	msg:       "model API unreachable",
	user:      "could not reach the model API; check the network and ANTHROPIC_BASE_URL",
	retryable: true,
}

// userError is a sentinel error that also carries a message for users, so
// callers looking for a UserMessage method find one.
type userError struct {
	msg, user string
	retryable bool
}

func (e *userError) Error() string       { return e.msg }
func (e *userError) UserMessage() string { return e.user }

// Retryable lets llm.WithRetry send the call again.
func (e *userError) Retryable() bool { return e.retryable }

var (
	_ llm.Retryable    = (*APIError)(nil)
	_ llm.RetryDelayer = (*APIError)(nil)
)

// RetryDelay is the wait the API asked for, for llm.WithRetry.
func (e *APIError) RetryDelay() time.Duration { return e.RetryAfter }

// APIError is an error answered by the model API, either as an HTTP error
// status or as an SSE error event after HTTP 200 (then StatusCode is 200 and
// InStream is true).
type APIError struct {
	StatusCode int
	// Type is the API's error type, e.g. "authentication_error", "overloaded_error".
	Type      string
	Message   string
	RequestID string
	InStream  bool
	// RetryAfter is what the retry-after header asked for, or zero.
	RetryAfter time.Duration

	err error
}

func newAPIError(e *sdk.Error) *APIError {
	out := &APIError{StatusCode: e.StatusCode, Type: string(e.Type()), RequestID: e.RequestID, err: e}
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(e.RawJSON()), &body) == nil {
		out.Message = body.Error.Message
		if out.Type == "" {
			out.Type = body.Error.Type
		}
	}
	if e.Response != nil {
		out.InStream = e.Response.StatusCode == http.StatusOK
		if secs, err := strconv.ParseFloat(e.Response.Header.Get("retry-after"), 64); err == nil && secs > 0 {
			out.RetryAfter = time.Duration(secs * float64(time.Second))
		}
	}
	return out
}

func (e *APIError) Error() string {
	where := fmt.Sprintf("status %d", e.StatusCode)
	if e.InStream {
		where = "in stream"
	}
	msg := fmt.Sprintf("model API error (%s) %s: %s", where, e.Type, e.Message)
	if e.RequestID != "" {
		msg += " (request-id " + e.RequestID + ")"
	}
	return msg
}

// Unwrap gives the SDK's *anthropic.Error.
func (e *APIError) Unwrap() error { return e.err }

// Retryable reports whether the same request may succeed later: rate limits,
// overload and server-side failures.
func (e *APIError) Retryable() bool {
	switch e.Type {
	case "rate_limit_error", "overloaded_error", "api_error", "timeout_error":
		return true
	}
	s := e.StatusCode
	return s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500
}

// UserMessage is a short explanation fit for the person running QuickVibe.
func (e *APIError) UserMessage() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.Type == "authentication_error":
		return "the model API rejected the key (ANTHROPIC_API_KEY)"
	case e.StatusCode == http.StatusPaymentRequired || e.Type == "billing_error":
		return "the model API refused the request because of a billing problem with the account"
	case e.StatusCode == http.StatusForbidden || e.Type == "permission_error":
		return "the API key is not allowed to use this model or feature"
	case e.StatusCode == http.StatusNotFound || e.Type == "not_found_error":
		return "the model API does not know this model or endpoint: " + e.Message
	case e.StatusCode == http.StatusRequestEntityTooLarge || e.Type == "request_too_large":
		return "the conversation is too large for the model API"
	case e.StatusCode == http.StatusTooManyRequests || e.Type == "rate_limit_error":
		return "the model API rate limit was reached; try again in a minute"
	case e.StatusCode == 529 || e.Type == "overloaded_error":
		return "the model API is overloaded; try again shortly"
	case e.StatusCode >= 500 || e.Type == "api_error" || e.Type == "timeout_error":
		return "the model API failed on its side; try again shortly"
	case e.StatusCode == http.StatusBadRequest || e.Type == "invalid_request_error":
		return "the model API rejected the request: " + e.Message
	}
	return "the model API answered with an error: " + e.Message
}

// UserMessage explains any error of Stream in words fit for the person running
// QuickVibe; it never includes internals such as stack traces.
func UserMessage(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "the model call was cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "the model call timed out"
	}
	if um, ok := errors.AsType[interface {
		error
		UserMessage() string
	}](err); ok {
		return um.UserMessage()
	}
	return "the model call failed"
}
