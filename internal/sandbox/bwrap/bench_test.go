package bwrap

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// BenchmarkSandbox measures what `make bench` prints: create-to-toolbox-
// ready latency over 100 creates (p50, p99), cold (every create launches a
// sandbox) and warm (Config.WarmPool: 1, the pool refilled before each
// create), and the memory of 50 idle sandboxes each serving a static site
// (PSS of their processes, and what their memory cgroups are charged,
// which includes page cache). Targets on a 2-core machine: p50 under
// 25 ms, under 5 MiB per idle sandbox. Run with -benchtime=1x.
//
// The sandboxes run the toolbox a server built by make embeds: cmd/qv-toolbox,
// built here the way the Makefile builds it.
func BenchmarkSandbox(b *testing.B) {
	exe := buildToolbox(b)
	for b.Loop() {
		cold := benchCreate(b, exe, 100, false)
		warm := benchCreate(b, exe, 100, true)
		mem := benchIdleMemory(b, exe, 50)
		fmt.Printf("\ntargets (2-core machine):\n")
		fmt.Printf("  create p50 < %s: cold %s (%.2fx the target), warm %s (%.2fx)\n",
			targetP50, cold.Round(100*time.Microsecond), float64(cold)/float64(targetP50),
			warm.Round(100*time.Microsecond), float64(warm)/float64(targetP50))
		fmt.Printf("  memory < %.0f MiB per idle sandbox: %.2f MiB PSS (%.2fx the target)\n",
			targetMiB, mem, mem/targetMiB)
		fmt.Printf("  the cold p50 is what a sandbox costs to launch; the warm p50 is what Create costs with a warm pool that had time to refill since the last create\n")
	}
}

const (
	targetP50 = 25 * time.Millisecond
	targetMiB = 5.0
)

// loadAvg is the 1-minute load average, printed with each measurement:
// other work on the machine skews the numbers.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func benchProvider(b *testing.B, exe []byte, pool int) *Provider {
	p, err := New(b.Context(), Config{Dir: b.TempDir(), ToolboxExecutable: exe, WarmPool: pool})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Ready(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchCreate times n creates (each followed by a delete) and returns the
// p50; warm creates take a sandbox from a warm pool of one.
func benchCreate(b *testing.B, exe []byte, n int, warm bool) time.Duration {
	pool, kind := 0, "cold"
	if warm {
		pool, kind = 1, "warm"
	}
	p := benchProvider(b, exe, pool)
	lat := make([]time.Duration, 0, n)
	for range n {
		if warm {
			ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
			err := p.waitPool(ctx, 1)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
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
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-"+kind+"-create-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-"+kind+"-create-ms")
	fmt.Printf("%s create-to-ready over %d creates: p50 %s, p99 %s (min %s, max %s); load %s\n",
		kind, n, pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond),
		lat[0].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond), loadAvg())
	return pct(0.50)
}

// benchIdleMemory returns the PSS per idle sandbox in MiB.
func benchIdleMemory(b *testing.B, exe []byte, n int) float64 {
	p := benchProvider(b, exe, 0)
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
	// PSS by process name, to show where the memory goes.
	byName := map[string]int64{}
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
			v := pssOf(f)
			pss += v
			comm, _ := os.ReadFile("/proc/" + f + "/comm")
			byName[strings.TrimSpace(string(comm))] += v
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
	fmt.Printf("memory of %d idle sandboxes serving a static site: %.2f MiB PSS each, %.2f MiB charged to each memory cgroup; load %s\n", n, mib(pss), mib(memcg), loadAvg())
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, mib(byName[name])))
	}
	fmt.Printf("  PSS per sandbox by process, MiB: %s\n", strings.Join(parts, ", "))
	return mib(pss)
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
