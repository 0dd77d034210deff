package httpapi

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
)

// apiError is an error with a status and a message safe to show; Err, if
// any, goes only to the log.
type apiError struct {
	Status  int
	Code    string
	Message string
	Err     error
	// RetryAfter, in seconds, is sent as Retry-After (429s).
	RetryAfter int
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *apiError) Unwrap() error { return e.Err }

func badRequest(msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

var errNotFound = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}

// handlerFunc is an HTTP handler that returns its error for one place to
// turn into a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// publicError maps any error to what the client may see. Domain errors are
// matched here, at the edge, and nowhere else.
func publicError(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if ie, ok := errors.AsType[*auth.InvalidInputError](err); ok {
		return &apiError{Status: http.StatusBadRequest, Code: "bad_request", Message: ie.Msg}
	}
	if ae := versionError(err); ae != nil {
		return ae
	}
	if pe, ok := errors.AsType[*run.InvalidPromptError](err); ok {
		return &apiError{Status: http.StatusBadRequest, Code: "bad_request", Message: pe.Msg}
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "sign in first, or send Authorization: Bearer <token>"}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "wrong email or password"}
	case errors.Is(err, auth.ErrAccountDisabled):
		return &apiError{Status: http.StatusForbidden, Code: "account_disabled", Message: "this account is disabled: ask an admin"}
	case errors.Is(err, auth.ErrSignupClosed):
		return &apiError{Status: http.StatusForbidden, Code: "signup_closed", Message: "registration is closed: ask an admin for an invitation"}
	case errors.Is(err, auth.ErrForbidden):
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "only admins may do this"}
	case errors.Is(err, auth.ErrOIDCFailed):
		return &apiError{Status: http.StatusUnauthorized, Code: "sso_failed", Message: "single sign-on failed: start again from the sign-in page", Err: err}
	case errors.Is(err, auth.ErrSetupDone):
		return &apiError{Status: http.StatusConflict, Code: "setup_done", Message: "setup is already done: sign in instead"}
	case errors.Is(err, auth.ErrEmailTaken):
		return &apiError{Status: http.StatusConflict, Code: "email_taken", Message: "that email is already registered"}
	case errors.Is(err, run.ErrProjectBusy):
		return &apiError{Status: http.StatusConflict, Code: "project_busy", Message: "this project already has a run in progress: wait for it or cancel it"}
	case errors.Is(err, run.ErrNotActive):
		return &apiError{Status: http.StatusConflict, Code: "run_not_active", Message: "the run is not in progress"}
	case errors.Is(err, run.ErrShutdown):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the server is shutting down; try again shortly"}
	case errors.Is(err, sandbox.ErrPathEscapes):
		return &apiError{Status: http.StatusBadRequest, Code: "bad_path", Message: "the path must stay inside the project's workspace"}
	case errors.Is(err, sandbox.ErrIsDirectory):
		return &apiError{Status: http.StatusBadRequest, Code: "is_directory", Message: "the path is a directory"}
	case errors.Is(err, sandbox.ErrFileTooBig):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "file_too_large", Message: "the file is too large to show"}
	case errors.Is(err, sandbox.ErrNotRunning):
		return &apiError{Status: http.StatusConflict, Code: "sandbox_not_running", Message: "the sandbox is stopped: start it first (POST /api/sandboxes/{id}/start)"}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, sandbox.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		// A missing workspace file is fs.ErrNotExist from the local engine.
		return errNotFound
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
}

type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	} `json:"error"`
}

// writeError answers with the public form of err and logs the detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := publicError(err)
	id := requestID(r.Context())
	level := slog.LevelInfo
	if ae.Status >= 500 {
		level = slog.LevelError
	}
	s.Logger.Log(r.Context(), level, "request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", ae.Status, "err", err)
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.RequestID = ae.Code, ae.Message, id
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterHeader(ae.RetryAfter))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="quickvibe"`)
	}
	writeJSON(w, ae.Status, body)
}

func newRequestID() string { return rand.Text()[:16] }
