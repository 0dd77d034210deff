package httpapi

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/limit"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
)

// Login throttle: failures allowed per account and per address in the window.
const (
	loginFailuresPerAccount = 5
	loginFailuresPerAddress = 30
	loginFailureWindow      = 15 * time.Minute
)

// limits are the server's in-memory counters: sign-in failures and prompts.
type limits struct {
	loginAccount *limit.Window
	loginAddress *limit.Window
	prompts      *limit.Window
}

func newLimits(promptsPerMinute int, now func() time.Time) *limits {
	return &limits{
		loginAccount: limit.NewWindow(loginFailuresPerAccount, loginFailureWindow, now),
		loginAddress: limit.NewWindow(loginFailuresPerAddress, loginFailureWindow, now),
		prompts:      limit.NewWindow(promptsPerMinute, time.Minute, now),
	}
}

// tooManyRequests answers 429 with Retry-After rounded up to whole seconds.
func tooManyRequests(code, msg string, wait time.Duration) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &apiError{Status: http.StatusTooManyRequests, Code: code, Message: fmt.Sprintf("%s; try again in %d s", msg, secs), RetryAfter: secs}
}

// remoteAddr is the client's IP address (the port changes per connection).
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit records a security event of request r.
func (s *Server) audit(r *http.Request, event string, actor store.User, subject, detail string) error {
	return s.Auth.Audit(r.Context(), store.AuditEvent{Event: event, ActorID: actor.ID, Subject: subject, RemoteAddr: remoteAddr(r), Detail: detail})
}

// limitPrompt refuses a prompt over the caller's rate, concurrent-run or
// concurrent-sandbox limits, with 429 and Retry-After.
func (s *Server) limitPrompt(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		u := currentUser(r.Context())
		p, err := s.ownedProject(r)
		if err != nil {
			return err
		}
		sec := s.Config.Security
		running, err := s.Store.CountRunningRunsByUser(r.Context(), u.ID)
		if err != nil {
			return err
		}
		if running >= sec.MaxRunsPerUser {
			return tooManyRequests("too_many_runs", fmt.Sprintf("you already have %d runs in progress, the most allowed at once", running), 10*time.Second)
		}
		sandboxes, err := s.runningSandboxes(r.Context(), u, p.SandboxID)
		if err != nil {
			return err
		}
		if sandboxes >= sec.MaxSandboxesPerUser {
			return tooManyRequests("too_many_sandboxes", fmt.Sprintf("you already have %d running sandboxes, the most allowed at once; stop one first", sandboxes), time.Minute)
		}
		if wait := s.limits.prompts.Allow(u.ID); wait > 0 {
			return tooManyRequests("rate_limited", fmt.Sprintf("at most %d prompts a minute", sec.RatePromptsPerMinute), wait)
		}
		return h(w, r)
	}
}

// runningSandboxes counts u's running sandboxes other than except (the
// project's own sandbox, which a prompt reuses rather than adds).
func (s *Server) runningSandboxes(ctx context.Context, u store.User, except string) (int, error) {
	ps, err := s.Store.ProjectsByUser(ctx, u.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.SandboxID == "" || p.SandboxID == except {
			continue
		}
		if s.sandboxRunning(ctx, p.SandboxID) {
			n++
		}
	}
	return n, nil
}

func (s *Server) sandboxRunning(ctx context.Context, id string) bool {
	info, err := s.Sandboxes.Get(ctx, id)
	if err != nil {
		// Unknown or unreachable sandboxes do not count against the user.
		s.Logger.Debug("sandbox state", "sandbox_id", id, "err", err)
		return false
	}
	return info.State == sandbox.StateRunning
}

// requireAdmin admits signed-in admins; other users get 403.
func (s *Server) requireAdmin(h handlerFunc) http.Handler {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) error {
		if !currentUser(r.Context()).IsAdmin {
			return auth.ErrForbidden
		}
		return h(w, r)
	})
}

// throttleKey is the per-account throttle's key for an email.
func throttleKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func retryAfterHeader(secs int) string { return strconv.Itoa(secs) }

// securityStore is what the security routes read directly.
type securityStore interface {
	CountRunningRunsByUser(ctx context.Context, userID string) (int, error)
	UsageByUser(ctx context.Context) (map[string]store.Usage, error)
	SetProjectPublicPreview(ctx context.Context, id string, public bool, now time.Time) error
	SharesByProject(ctx context.Context, projectID string) ([]store.Share, error)
}

// withSecurityDefaults fills limits a hand-built Config left at zero.
func withSecurityDefaults(c config.Security) config.Security {
	if c.RatePromptsPerMinute <= 0 {
		c.RatePromptsPerMinute = config.DefaultRatePromptsPerMinute
	}
	if c.MaxRunsPerUser <= 0 {
		c.MaxRunsPerUser = config.DefaultMaxRunsPerUser
	}
	if c.MaxSandboxesPerUser <= 0 {
		c.MaxSandboxesPerUser = config.DefaultMaxSandboxesPerUser
	}
	if c.PreviewTokenTTL <= 0 {
		c.PreviewTokenTTL = config.DefaultPreviewTokenTTL
	}
	return c
}
