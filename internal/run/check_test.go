package run

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// servePipe answers one HTTP request on a pipe with status, content type
// and body, like a dev server inside a sandbox.
func servePipe(status int, contentType, body string) func(int) (net.Conn, error) {
	return func(int) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
				return
			}
			fmt.Fprintf(server, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				status, http.StatusText(status), contentType, len(body), body)
		}()
		return client, nil
	}
}

// TestCheckPageSaysWhichPagesNeedABrowser: only a page that served well and
// runs scripts is loaded in the browser; what is wrong with the others is
// said without one.
func TestCheckPageSaysWhichPagesNeedABrowser(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		wantProblem             string
		wantScripted            bool
	}{
		{name: "external script", contentType: "text/html; charset=utf-8", body: `<!doctype html><h1>Hi</h1><script src="app.js"></script>`, wantScripted: true},
		{name: "module script", contentType: "text/html", body: `<SCRIPT type="module" src="/src/main.tsx"></SCRIPT>`, wantScripted: true},
		{name: "inline handler", contentType: "text/html", body: `<body onload="start()"><h1>Hi</h1></body>`, wantScripted: true},
		{name: "plain HTML", contentType: "text/html", body: `<!doctype html><h1>Calculator</h1><p>No script.</p>`},
		{name: "JSON", contentType: "application/json", body: `{"script":"<script>"}`},
		{name: "server error", contentType: "text/html", status: 500, body: `<script>x()</script>`, wantProblem: "GET / answered 500"},
		{name: "error page", contentType: "text/html", body: `<pre>ReferenceError: x is not defined</pre><script></script>`, wantProblem: "served an error page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := workingProvider()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			p.dialPort = servePipe(status, tt.contentType, tt.body)
			m := &Manager{sandboxes: p}
			problem, scripted := m.checkPage(t.Context(), "sbx000000001", 3000)
			if scripted != tt.wantScripted || (tt.wantProblem == "") != (problem == "") || !strings.Contains(problem, tt.wantProblem) {
				t.Errorf("checkPage = %q, scripted %v; want a problem with %q, scripted %v", problem, scripted, tt.wantProblem, tt.wantScripted)
			}
		})
	}
}
