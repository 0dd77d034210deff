package daytonatest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests fail, Times times, then behave normally
// again. It applies to the API (Path after /api) and the toolbox (Path
// after the toolbox base {toolboxProxyUrl}/{sandboxId}).
type Fault struct {
	Method  string      // "" = any
	Path    string      // path prefix after /api or after the toolbox base, e.g. "/sandbox" or "/files"
	Status  int         // 429, 500, 503, 401, 403, 404, 400 ...
	Times   int         // how many matching requests fail (then normal again)
	Message string      // NestJS/daemon error message
	Header  http.Header // e.g. X-RateLimit-*, Retry-After-sandbox-create
}

// Inject adds a fault. Faults are matched in the order they were added.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// takeFault returns a copy of the first fault matching the request and
// counts it down, or nil.
func (s *Server) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if !strings.HasPrefix(path, f.Path) {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// writeFault answers an injected fault in the error shape of the part it
// hit.
func writeFault(w http.ResponseWriter, r *http.Request, f *Fault, throttler string, toolbox bool) {
	if f.Status == http.StatusTooManyRequests {
		w.Header().Set("X-RateLimit-Remaining-"+throttler, "0")
	}
	for k, vs := range f.Header {
		w.Header().Del(k)
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Status == http.StatusTooManyRequests {
		if !hasRetryAfter(w.Header()) {
			w.Header().Set("Retry-After-"+throttler, "1")
		}
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			msg = "Rate limit exceeded"
		}
	}
	if toolbox {
		daemonError(w, r, f.Status, msg)
	} else {
		apiError(w, r, f.Status, msg)
	}
}

func hasRetryAfter(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, "Retry-After") {
			return true
		}
	}
	return false
}

// Rate limits of Daytona's Tier 1 per minute, by throttler.
var tier1Limits = map[string]int{
	"authenticated":     10000,
	"sandbox-create":    300,
	"sandbox-lifecycle": 10000,
}

// rateLimiter counts requests per throttler in fixed one-minute windows,
// only to answer plausible X-RateLimit-* headers; it never refuses.
type rateLimiter struct {
	window time.Time
	counts map[string]int
}

func newRateLimiter() *rateLimiter { return &rateLimiter{counts: make(map[string]int)} }

// throttlerFor names the throttler Daytona applies to an API request.
func throttlerFor(method, path string) string {
	if method == http.MethodPost && path == "/sandbox" {
		return "sandbox-create"
	}
	if strings.HasPrefix(path, "/sandbox/") {
		if method == http.MethodDelete && strings.Count(path, "/") == 2 {
			return "sandbox-lifecycle"
		}
		for _, op := range []string{"/start", "/stop", "/archive", "/recover"} {
			if method == http.MethodPost && strings.HasSuffix(path, op) {
				return "sandbox-lifecycle"
			}
		}
	}
	return "authenticated"
}

// setRateLimitHeaders counts the request and sets the X-RateLimit-*
// headers of its throttler. The caller holds s.mu.
func (s *Server) setRateLimitHeadersLocked(h http.Header, throttler string) {
	now := time.Now()
	rl := s.limits
	if now.Sub(rl.window) >= time.Minute {
		rl.window = now.Truncate(time.Minute)
		clear(rl.counts)
	}
	rl.counts[throttler]++
	limit := tier1Limits[throttler]
	reset := int(time.Until(rl.window.Add(time.Minute)).Seconds()) + 1
	h.Set("X-RateLimit-Limit-"+throttler, strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining-"+throttler, strconv.Itoa(max(0, limit-rl.counts[throttler])))
	h.Set("X-RateLimit-Reset-"+throttler, strconv.Itoa(reset))
}
