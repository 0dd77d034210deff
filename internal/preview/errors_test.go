package preview

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestInjectReporter(t *testing.T) {
	tests := []struct {
		name, contentType, encoding, body, want string
	}{
		{"after head", "text/html; charset=utf-8", "", "<html><HEAD lang=en><title>t</title></head></html>", "<html><HEAD lang=en>" + reporterScript + "<title>t</title></head></html>"},
		{"no head", "text/html", "", "<p>hi</p>", reporterScript + "<p>hi</p>"},
		{"not html", "application/javascript", "", "<head>", "<head>"},
		{"compressed", "text/html", "gzip", "<head>", "<head>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{
				StatusCode: 200, Header: http.Header{}, Request: httptest.NewRequest(http.MethodGet, "/", nil),
				Body: io.NopCloser(strings.NewReader(tt.body)), ContentLength: int64(len(tt.body)),
			}
			resp.Header.Set("Content-Type", tt.contentType)
			resp.Header.Set("ETag", `"x"`)
			if tt.encoding != "" {
				resp.Header.Set("Content-Encoding", tt.encoding)
			}
			if err := injectReporter(resp); err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
			if changed := tt.want != tt.body; changed && (resp.ContentLength != int64(len(tt.want)) || resp.Header.Get("ETag") != "") {
				t.Errorf("Content-Length %d, ETag %q after injection", resp.ContentLength, resp.Header.Get("ETag"))
			}
		})
	}
}

func TestReceiveReport(t *testing.T) {
	p := &Proxy{}
	before := time.Now()
	post := func(body string) int {
		w := httptest.NewRecorder()
		p.receiveReport(w, httptest.NewRequest(http.MethodPost, ReportPath, strings.NewReader(body)), "sbx1")
		return w.Code
	}
	if code := post(`{"kind":"error","message":"ReferenceError: x is not defined","url":"/"}`); code != http.StatusNoContent {
		t.Fatalf("report = %d, want 204", code)
	}
	if code := post(`not json`); code != http.StatusBadRequest {
		t.Errorf("bad report = %d, want 400", code)
	}
	got := p.BrowserErrors("sbx1", before)
	if len(got) != 1 || got[0] != "error on /: ReferenceError: x is not defined" {
		t.Errorf("errors = %q", got)
	}
	if later := p.BrowserErrors("sbx1", time.Now().Add(time.Second)); len(later) != 0 {
		t.Errorf("errors since later = %q, want none", later)
	}
	if other := p.BrowserErrors("sbx2", before); len(other) != 0 {
		t.Errorf("another sandbox's errors = %q", other)
	}
	for range maxReports + 10 {
		post(`{"message":"again"}`)
	}
	if n := len(p.BrowserErrors("sbx1", before)); n != maxReports {
		t.Errorf("kept %d reports, want at most %d", n, maxReports)
	}
}
