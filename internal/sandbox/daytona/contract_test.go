package daytona

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
	"github.com/quickvibe/quickvibe/internal/sandbox/sandboxtest"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

// The fake Daytona runs its sandboxes on bubblewrap, whose sandboxes run
// this test binary as their toolbox.
func TestMain(m *testing.M) {
	toolbox.DispatchIfToolbox()
	os.Exit(m.Run())
}

// newFake starts a fake Daytona over a real bwrap engine.
func newFake(t *testing.T, opts daytonatest.Options) *daytonatest.Server {
	return daytonatest.OnBwrap(t, opts)
}

// onFake returns a provider for fake, with cfg's test hooks.
func onFake(t *testing.T, fake *daytonatest.Server, mod func(*Config)) *Provider {
	t.Helper()
	cfg := Config{
		APIURL:     fake.APIURL(),
		APIKey:     "dtn_test_key",
		Snapshot:   "daytona-small",
		HTTPClient: fake.Client(),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestContract runs the engine contract shared with the local engine.
// Usage can only be measured from inside a running Daytona sandbox.
func TestContract(t *testing.T) {
	opts := sandboxtest.Options{UsageSources: []string{"procfs"}, StoppedUsageNotRunning: true}
	sandboxtest.RunWith(t, opts, func(t *testing.T) sandbox.Provider {
		return onFake(t, newFake(t, daytonatest.Options{}), nil)
	})
}

// recordedSleep sleeps for real (polling must see the fake move on) and
// records every wait.
type recordedSleep struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *recordedSleep) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
	return sleepCtx(ctx, d)
}

func (r *recordedSleep) count(d time.Duration) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.d {
		if x == d {
			n++
		}
	}
	return n
}

func createAndDelete(t *testing.T, p *Provider) (sandbox.Info, error) {
	t.Helper()
	info, err := p.Create(t.Context(), sandbox.Spec{Labels: map[string]string{"project": t.Name()}})
	if err == nil {
		t.Cleanup(func() { _ = p.Delete(context.Background(), info.ID) })
	}
	return info, err
}

func TestFaultsThroughFake(t *testing.T) {
	fake := newFake(t, daytonatest.Options{})

	t.Run("503 twice then success", func(t *testing.T) {
		rs := &recordedSleep{}
		p := onFake(t, fake, func(c *Config) { c.Sleep = rs.sleep })
		fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusServiceUnavailable, Times: 2})
		info, err := createAndDelete(t, p)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if info.State != sandbox.StateRunning {
			t.Errorf("state %s, want running", info.State)
		}
		if len(rs.d) < 2 {
			t.Errorf("waits %v: want two backoffs before the third try", rs.d)
		}
	})

	t.Run("429 honours Retry-After-sandbox-create", func(t *testing.T) {
		rs := &recordedSleep{}
		p := onFake(t, fake, func(c *Config) { c.Sleep = rs.sleep })
		fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusTooManyRequests, Times: 1,
			Header: http.Header{"Retry-After-Sandbox-Create": {"2"}, "X-Ratelimit-Remaining-Sandbox-Create": {"0"}}})
		if _, err := createAndDelete(t, p); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if rs.count(2*time.Second) != 1 {
			t.Errorf("waits %v: want one wait of 2s as asked", rs.d)
		}
	})

	t.Run("429 beyond patience is a clear error", func(t *testing.T) {
		p := onFake(t, fake, nil)
		fake.Inject(daytonatest.Fault{Method: http.MethodPost, Path: "/sandbox", Status: http.StatusTooManyRequests, Times: 1,
			Header: http.Header{"Retry-After-Sandbox-Create": {"120"}}})
		_, err := createAndDelete(t, p)
		if err == nil || !strings.Contains(err.Error(), "rate limited") || !strings.Contains(err.Error(), "retry after 2m0s") {
			t.Fatalf("Create error = %v, want rate limited with retry after 2m0s", err)
		}
	})

	t.Run("start ends in error", func(t *testing.T) {
		p := onFake(t, fake, nil)
		fake.FailNextStart("error", "no runner available")
		_, err := createAndDelete(t, p)
		if err == nil || !strings.Contains(err.Error(), "no runner available") {
			t.Fatalf("Create error = %v, want it to name Daytona's errorReason", err)
		}
		infos, lerr := p.List(t.Context())
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, in := range infos {
			if in.Labels["project"] == t.Name() {
				t.Errorf("the failed sandbox %s is still listed", in.ID)
			}
		}
	})

	t.Run("401 says which key", func(t *testing.T) {
		p := onFake(t, fake, func(c *Config) { c.APIKey = "dtn_wrong" })
		err := p.Ready(t.Context())
		if err == nil || !strings.Contains(err.Error(), "DAYTONA_API_KEY") {
			t.Fatalf("Ready error = %v, want it to name DAYTONA_API_KEY", err)
		}
	})

	t.Run("unknown snapshot", func(t *testing.T) {
		p := onFake(t, fake, func(c *Config) { c.Snapshot = "no-such-snapshot" })
		err := p.Ready(t.Context())
		if err == nil || !strings.Contains(err.Error(), "snapshot no-such-snapshot not found in Daytona; set DAYTONA_SNAPSHOT") {
			t.Fatalf("Ready error = %v", err)
		}
	})

	t.Run("toolbox 503 on a read is retried", func(t *testing.T) {
		rs := &recordedSleep{}
		p := onFake(t, fake, func(c *Config) { c.Sleep = rs.sleep })
		info, err := createAndDelete(t, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WriteFile(t.Context(), info.ID, "a.txt", []byte("x")); err != nil {
			t.Fatal(err)
		}
		fake.Inject(daytonatest.Fault{Method: http.MethodGet, Path: "/files/download", Status: http.StatusServiceUnavailable, Times: 1})
		data, err := p.ReadFile(t.Context(), info.ID, "a.txt")
		if err != nil || string(data) != "x" {
			t.Fatalf("ReadFile = %q, %v", data, err)
		}
	})
}

func TestSlowStartIsPolled(t *testing.T) {
	fake := newFake(t, daytonatest.Options{StartDelay: 1500 * time.Millisecond, ServerWait: 100 * time.Millisecond})
	p := onFake(t, fake, nil)
	info, err := createAndDelete(t, p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	gets := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/sandbox/"+info.ID) {
			gets++
		}
	}
	if gets < 3 {
		t.Errorf("%d polls of the sandbox, want several while it starts", gets)
	}
	res, err := p.Exec(t.Context(), info.ID, sandbox.ExecRequest{Command: "pwd"})
	if err != nil || strings.TrimSpace(res.Output) != daytonatest.WorkDir+"/workspace" {
		t.Errorf("Exec pwd = %q, %v; want the workspace", res.Output, err)
	}
}

func TestRequestsCarryAuthAndHideTokens(t *testing.T) {
	fake := newFake(t, daytonatest.Options{})
	p := onFake(t, fake, nil)
	info, err := createAndDelete(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.StartProcess(t.Context(), info.ID, sandbox.ProcessRequest{Name: "web", Command: "qv-serve --port 3000 --dir ."}); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile(t.Context(), info.ID, "index.html", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	// Wait for the server, then fetch through DialPort.
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		got, err := fetchOverDial(t.Context(), p, info.ID, 3000, "/")
		if err == nil {
			body = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(body, fake.PreviewToken(info.ID)) || strings.Contains(body, "dtn_test_key") {
		t.Errorf("a credential reached the caller: %q", body)
	}
	if !strings.Contains(body, "hi") {
		t.Errorf("response %q lacks the file served", body)
	}
	for _, r := range fake.Requests() {
		if strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/toolbox/") {
			if r.Header.Get("Authorization") != "Bearer dtn_test_key" || r.Header.Get("X-Daytona-SDK-Version") != sdkVersion || r.Header.Get("X-Daytona-Source") != sourceName {
				t.Errorf("%s %s lacks the auth or SDK headers: %v", r.Method, r.Path, r.Header)
			}
		}
		if r.Query != "" && strings.Contains(r.Query, fake.PreviewToken(info.ID)) {
			t.Errorf("%s %s carried the preview token in its query", r.Method, r.Path)
		}
	}
}

// fetchOverDial sends GET path over a DialPort conn and returns the whole
// raw response (headers and body).
func fetchOverDial(ctx context.Context, p *Provider, id string, port int, path string) (string, error) {
	conn, err := p.DialPort(ctx, id, port)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: 3000-x.preview.localhost\r\nConnection: close\r\n\r\n")); err != nil {
		return "", err
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.HasPrefix(b.String(), "HTTP/1.1 200") {
		return "", errors.New("answer: " + b.String())
	}
	return b.String(), nil
}

func TestListOnFake(t *testing.T) {
	for _, opts := range []daytonatest.Options{{PageSize: 1}, {ListShape: "array"}} {
		t.Run(cmp.Or(opts.ListShape, "cursor"), func(t *testing.T) {
			p := onFake(t, newFake(t, opts), nil)
			want := map[string]bool{}
			for range 3 {
				info, err := createAndDelete(t, p)
				if err != nil {
					t.Fatal(err)
				}
				want[info.ID] = true
			}
			infos, err := p.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, in := range infos {
				got[in.ID] = true
				if in.Labels["project"] != t.Name() {
					t.Errorf("labels of %s = %v", in.ID, in.Labels)
				}
			}
			if len(got) != len(want) || len(infos) != len(want) {
				t.Errorf("List = %v, want %v", got, want)
			}
			for id := range want {
				if !got[id] {
					t.Errorf("List lacks %s", id)
				}
			}
		})
	}
}
