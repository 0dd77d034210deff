package httpapi

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// writeInert sends untrusted file bytes so that a browser never runs them
// on the app's origin.
func (s *Server) writeInert(w http.ResponseWriter, r *http.Request, data []byte) {
	ct := "application/octet-stream"
	if utf8.Valid(data) {
		ct = "text/plain; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(data); err != nil {
		s.Logger.Debug("write file response", "request_id", requestID(r.Context()), "err", err)
	}
}
