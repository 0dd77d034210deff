package daytonatest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The bwrap sandboxes run this test binary as their toolbox.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// newFake starts a fake Daytona over a real bwrap engine.
func newFake(t *testing.T, opts daytonatest.Options) *daytonatest.Server {
	return daytonatest.OnBwrap(t, opts)
}

// response is one answer of the fake.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// obj decodes a JSON object body.
func (r response) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

const sdkVersion = "0.190.0"

// call sends a request with the API key (unless header sets
// Authorization, "" to send none) and the SDK version header.
func call(t *testing.T, s *daytonatest.Server, method, url string, body any, header http.Header) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daytonatest.DefaultAPIKey)
	req.Header.Set("X-Daytona-SDK-Version", sdkVersion)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header.Del(k)
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	// Redirects are answers to check, not to follow (the preview's 307
	// to the login page).
	c := s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// api calls the REST API.
func api(t *testing.T, s *daytonatest.Server, method, path string, body any) response {
	t.Helper()
	return call(t, s, method, s.APIURL()+path, body, nil)
}

// sandboxDTO is the part of the Sandbox DTO the tests read.
type sandboxDTO struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	State           string            `json:"state"`
	ErrorReason     string            `json:"errorReason"`
	Labels          map[string]string `json:"labels"`
	ToolboxProxyURL string            `json:"toolboxProxyUrl"`
}

// createStarted creates a sandbox and waits until it is started.
func createStarted(t *testing.T, s *daytonatest.Server, body map[string]any) sandboxDTO {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := api(t, s, "POST", "/sandbox", body)
	if r.status != http.StatusOK {
		t.Fatalf("POST /sandbox = %d %s", r.status, r.body)
	}
	var sb sandboxDTO
	r.json(t, &sb)
	return waitState(t, s, sb.ID, "started")
}

// waitState polls GET /sandbox/{id} like the SDKs until state.
func waitState(t *testing.T, s *daytonatest.Server, id, state string) sandboxDTO {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := api(t, s, "GET", "/sandbox/"+id, nil)
		var sb sandboxDTO
		if r.status == http.StatusOK {
			r.json(t, &sb)
			if sb.State == state {
				return sb
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox %s never reached %s: last %d %s", id, state, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tb calls the toolbox of a sandbox.
func tb(t *testing.T, s *daytonatest.Server, sb sandboxDTO, method, path string, body any) response {
	t.Helper()
	return call(t, s, method, sb.ToolboxProxyURL+"/"+sb.ID+path, body, nil)
}

func wantStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s = %d %s, want %d", what, r.status, strings.TrimSpace(string(r.body)), status)
	}
}
