package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, rec.Result().Header, string(body)
}

func TestHandlerServesAppAndFallsBackForClientRoutes(t *testing.T) {
	h := Handler()
	code, hdr, root := get(t, h, "GET", "/")
	if code != 200 || !strings.Contains(root, "<html") || hdr.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET / = %d %q cache %q", code, root, hdr.Get("Cache-Control"))
	}
	// A client-side route reloads into the same page.
	for _, p := range []string{"/p/0123", "/new", "/login"} {
		if code, _, body := get(t, h, "GET", p); code != 200 || body != root {
			t.Errorf("GET %s = %d, want index.html", p, code)
		}
	}
	if code, _, _ := get(t, h, "POST", "/"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", code)
	}
	if Built() {
		if !strings.Contains(root, `<div id="app">`) {
			t.Errorf("built app index lacks the mount point: %q", root)
		}
	} else if !strings.Contains(root, "make ui") {
		// A binary built without the UI says how to build it.
		t.Errorf("placeholder page does not say how to build the UI: %q", root)
	}
}

func TestPlaceholderSaysHowToBuildTheUI(t *testing.T) {
	b, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatalf("the committed placeholder is missing: %v", err)
	}
	if !strings.Contains(string(b), "make ui") {
		t.Errorf("placeholder does not mention make ui: %s", b)
	}
}
