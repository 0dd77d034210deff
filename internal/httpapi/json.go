package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

const maxJSONBody = 1 << 20

// decode reads one JSON object of type T from the request body, refusing
// unknown fields and oversize bodies with messages a client can act on.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return v, badRequest("the request body is empty: send a JSON object")
		case errors.As(err, &tooBig):
			return v, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the request body is larger than %d bytes", maxJSONBody)}
		case errors.As(err, &syntax):
			return v, badRequest(fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntax.Offset))
		case errors.As(err, &typeErr):
			return v, badRequest(fmt.Sprintf("field %q has the wrong type: want %s", typeErr.Field, typeErr.Type))
		default:
			// Unknown fields and the like: json's message names the field.
			return v, badRequest("the request body is not accepted: " + err.Error())
		}
	}
	if dec.More() {
		return v, badRequest("the request body must hold exactly one JSON object")
	}
	return v, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
