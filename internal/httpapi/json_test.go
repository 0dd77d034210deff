package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeRefusesBadBodiesClearly(t *testing.T) {
	type input struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantMsg    string
	}{
		{"empty", "", http.StatusBadRequest, "empty"},
		{"not json", "{name:", http.StatusBadRequest, "not valid JSON"},
		{"wrong type", `{"count":"three"}`, http.StatusBadRequest, `field "count"`},
		{"unknown field", `{"nmae":"x"}`, http.StatusBadRequest, "nmae"},
		{"two objects", `{"name":"a"}{"name":"b"}`, http.StatusBadRequest, "exactly one"},
		{"too large", `{"name":"` + strings.Repeat("x", maxJSONBody) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			_, err := decode[input](httptest.NewRecorder(), r)
			ae, ok := errors.AsType[*apiError](err)
			if !ok || ae.Status != tt.wantStatus || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("decode(%.40q) = %v; want %d mentioning %q", tt.body, err, tt.wantStatus, tt.wantMsg)
			}
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"ok","count":2}`))
	got, err := decode[input](httptest.NewRecorder(), r)
	if err != nil || got != (input{Name: "ok", Count: 2}) {
		t.Fatalf("decode of a good body = %+v, %v", got, err)
	}
}

func TestPublicErrorHidesInternals(t *testing.T) {
	ae := publicError(errors.New("open /var/lib/secret.db: permission denied"))
	if ae.Status != http.StatusInternalServerError || strings.Contains(ae.Message, "secret") {
		t.Fatalf("publicError = %+v; want a bare 500", ae)
	}
}
