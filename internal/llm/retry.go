package llm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retryable is an error that says whether the same request may succeed if
// sent again (rate limits, overload, server failures, dropped streams).
type Retryable interface {
	error
	Retryable() bool
}

// RetryDelayer is an error that carries the delay the server asked for
// (retry-after); zero means none.
type RetryDelayer interface {
	error
	RetryDelay() time.Duration
}

// RetryNotifier is an optional part of a StreamHandler: it is told before a
// failed call is sent again, so it can tell the user and drop what the failed
// attempt streamed.
type RetryNotifier interface {
	Retrying(attempt int, delay time.Duration, err error)
}

// Defaults of RetryOptions.
const (
	DefaultAttempts  = 5
	DefaultBaseDelay = time.Second
	DefaultMaxDelay  = 30 * time.Second
)

// RetryOptions tune WithRetry; zero values take the defaults.
type RetryOptions struct {
	// Attempts is the number of tries in all, the first one included.
	Attempts int
	// BaseDelay is the first backoff; it doubles each try, with jitter.
	BaseDelay time.Duration
	// MaxDelay caps one wait, also one asked for by retry-after.
	MaxDelay time.Duration
}

// RetriesExhaustedError is the last error of a call that failed every try.
type RetriesExhaustedError struct {
	Attempts int
	Err      error
}

func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Err)
}

func (e *RetriesExhaustedError) Unwrap() error { return e.Err }

// UserMessage says what happened and what to do.
func (e *RetriesExhaustedError) UserMessage() string {
	what := "the model call failed"
	if um, ok := errors.AsType[interface {
		error
		UserMessage() string
	}](e.Err); ok {
		what = um.UserMessage()
	}
	return fmt.Sprintf("%s (tried %d times, giving up). Your files are kept; wait a minute and send the prompt again.", what, e.Attempts)
}

// WithRetry wraps m so that retryable failures, including streams that broke
// off after they began (which provider SDKs do not retry), are sent again
// with exponential backoff that honours the server's retry-after.
func WithRetry(m Model, opts RetryOptions) Model {
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	return &retrying{Model: m, opts: opts}
}

type retrying struct {
	Model
	opts RetryOptions
}

func (r *retrying) Stream(ctx context.Context, req Request, h StreamHandler) (Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := r.Model.Stream(ctx, req, h)
		if err == nil || ctx.Err() != nil || !IsRetryable(err) {
			return resp, err
		}
		if attempt >= r.opts.Attempts {
			return resp, &RetriesExhaustedError{Attempts: attempt, Err: err}
		}
		delay := r.delay(attempt, err)
		if n, ok := h.(RetryNotifier); ok {
			n.Retrying(attempt, delay, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Response{}, fmt.Errorf("waiting to retry: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// delay is the wait before try attempt+1: what the server asked for, else
// base·2^(attempt-1) minus up to a quarter of jitter, capped.
func (r *retrying) delay(attempt int, err error) time.Duration {
	if d, ok := errors.AsType[RetryDelayer](err); ok && d.RetryDelay() > 0 {
		return min(d.RetryDelay(), r.opts.MaxDelay)
	}
	d := r.opts.BaseDelay << min(attempt-1, 20)
	d = min(d, r.opts.MaxDelay)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// IsRetryable reports whether err says the same request may succeed later.
func IsRetryable(err error) bool {
	if r, ok := errors.AsType[Retryable](err); ok {
		return r.Retryable()
	}
	return false
}
