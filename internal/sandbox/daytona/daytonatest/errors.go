package daytonatest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError answers the control plane's NestJS error body.
func apiError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, map[string]any{
		"path":       r.URL.Path,
		"timestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"statusCode": status,
		"error":      http.StatusText(status),
		"message":    message,
	})
}

// daemonError answers the toolbox daemon's error body; path is the path
// below the toolbox base, as the daemon sees it.
func daemonError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, map[string]any{
		"statusCode": status,
		"message":    message,
		"code":       http.StatusText(status),
		"timestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"path":       toolboxSubpath(r),
		"method":     r.Method,
	})
}

// decodeBody decodes a JSON request body; an empty body decodes to v's
// zero value, as NestJS and gin treat optional bodies.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
