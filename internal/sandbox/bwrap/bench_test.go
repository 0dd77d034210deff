package bwrap

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// BenchmarkSandbox measures what `make bench` prints: create-to-toolbox-
// ready latency over 100 creates (p50, p99), and the memory of 50 idle
// sandboxes each serving a static site (PSS of their processes, and what
// their memory cgroups are charged, which includes page cache).
// Targets on a 2-core machine: p50 under 25 ms, under 5 MiB per idle
// sandbox. Run with -benchtime=1x.
func BenchmarkSandbox(b *testing.B) {
	for b.Loop() {
		benchCreate(b, 100)
		benchIdleMemory(b, 50)
	}
}

func benchProvider(b *testing.B) *Provider {
	p, err := New(b.Context(), Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Ready(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func benchCreate(b *testing.B, n int) {
	p := benchProvider(b)
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		info, err := p.Create(b.Context(), sandbox.Spec{})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if err := p.Delete(b.Context(), info.ID); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-create-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-create-ms")
	fmt.Printf("create-to-ready over %d creates: p50 %s, p99 %s (min %s, max %s)\n",
		n, pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond),
		lat[0].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
}

func benchIdleMemory(b *testing.B, n int) {
	p := benchProvider(b)
	var ids []string
	for range n {
		info, err := p.Create(b.Context(), sandbox.Spec{})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, info.ID)
		if err := p.WriteFile(b.Context(), info.ID, "index.html", []byte("<h1>hello</h1>")); err != nil {
			b.Fatal(err)
		}
		if err := p.StartProcess(b.Context(), info.ID, sandbox.ProcessRequest{Name: "web", Command: "qv-serve --port 3000 --dir ."}); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range ids {
		if got := benchFetch(b, p, id); !strings.Contains(got, "hello") {
			b.Fatalf("sandbox %s serves %q", id, got)
		}
	}
	time.Sleep(2 * time.Second) // idle
	var pss, memcg int64
	for _, id := range ids {
		s := p.cgroups.lookup(id)
		dir := s.v1[ctlPids]
		if p.cgroups.v2Ctl[ctlPids] {
			dir = s.v2
		}
		procs, err := os.ReadFile(dir + "/cgroup.procs")
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range strings.Fields(string(procs)) {
			pss += pssOf(f)
		}
		usage := "memory.usage_in_bytes"
		mdir := s.v1[ctlMemory]
		if p.cgroups.v2Ctl[ctlMemory] {
			usage, mdir = "memory.current", s.v2
		}
		if raw, err := os.ReadFile(mdir + "/" + usage); err == nil {
			v, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
			memcg += v
		}
	}
	mib := func(v int64) float64 { return float64(v) / float64(n) / (1 << 20) }
	b.ReportMetric(mib(pss), "PSS-MiB/idle-sandbox")
	b.ReportMetric(mib(memcg), "memcg-MiB/idle-sandbox")
	fmt.Printf("memory of %d idle sandboxes serving a static site: %.2f MiB PSS each, %.2f MiB charged to each memory cgroup\n", n, mib(pss), mib(memcg))
}

// benchFetch GETs / from the sandbox's port 3000.
func benchFetch(b *testing.B, p *Provider, id string) string {
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := p.DialPort(b.Context(), id, 3000)
		if err == nil {
			fmt.Fprint(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
			buf := make([]byte, 4096)
			var out []byte
			for {
				n, err := conn.Read(buf)
				out = append(out, buf[:n]...)
				if err != nil {
					break
				}
			}
			conn.Close()
			return string(out)
		}
		if time.Now().After(deadline) {
			b.Fatalf("port 3000 of %s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pssOf reads a process's proportional set size in bytes (0 if gone).
func pssOf(pid string) int64 {
	raw, err := os.ReadFile("/proc/" + pid + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
