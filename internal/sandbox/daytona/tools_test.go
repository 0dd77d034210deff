package daytona

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

// A Daytona snapshot has no qv-serve; the stand-in Create installs serves
// the workspace with python3, and supervised processes find it on PATH.
func TestQVServeStandInServesTheWorkspace(t *testing.T) {
	p := onFake(t, newFake(t, daytonatest.Options{}), nil)
	ctx := t.Context()
	info, err := p.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile(ctx, info.ID, "index.html", []byte("<h1>stand-in</h1>")); err != nil {
		t.Fatal(err)
	}
	// The double's sandboxes do have the real qv-serve, so call the
	// stand-in by its path.
	standIn := daytonatest.WorkDir + "/" + toolsDir + "/qv-serve"
	if err := p.StartProcess(ctx, info.ID, sandbox.ProcessRequest{Name: "web", Command: standIn + " --port 3005 --dir ."}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := p.DialPort(ctx, info.ID, 3005)
		if err == nil {
			req, _ := http.NewRequest(http.MethodGet, "http://localhost:3005/index.html", nil)
			req.Header.Set("Connection", "close")
			if err = req.Write(conn); err == nil {
				var resp *http.Response
				resp, err = http.ReadResponse(bufio.NewReader(conn), req)
				if err == nil {
					var b strings.Builder
					_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
					resp.Body.Close()
					conn.Close()
					if resp.StatusCode != http.StatusOK || b.String() != "<h1>stand-in</h1>" {
						t.Fatalf("stand-in answered %d %q", resp.StatusCode, b.String())
					}
					break
				}
			}
			conn.Close()
		}
		if time.Now().After(deadline) {
			st, _ := p.Process(ctx, info.ID, "web")
			t.Fatalf("the stand-in never answered on 3005: %v; process %+v", err, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Supervised commands get the stand-ins' directory on PATH.
	script := processScript("/w", "/w/.quickvibe/bin", "qv-serve --port 3000", true)
	if !strings.Contains(script, `PATH="$PATH":'/w/.quickvibe/bin' sh -c 'qv-serve --port 3000'`) {
		t.Errorf("process script does not put the stand-ins on PATH: %s", script)
	}
}
