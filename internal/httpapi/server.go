// Package httpapi is QuickVibe's HTTP edge: REST, SSE and the routing of
// preview hosts. It holds no business logic; it decodes, authorizes, calls
// the domain and maps errors to statuses in one place.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/preview"
	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/lifecycle"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
)

// Store is what the HTTP edge reads directly.
type Store interface {
	CountUsers(ctx context.Context) (int, error)
	CreateProject(ctx context.Context, p store.Project) error
	SetProjectModel(ctx context.Context, projectID, model string) error
	UsageByRun(ctx context.Context, runID string) ([]store.UsageTotal, error)
	UsageByProject(ctx context.Context, projectID string) ([]store.UsageTotal, error)
	UserCostSince(ctx context.Context, userID string, t time.Time) (int64, error)
	ProjectByID(ctx context.Context, id string) (store.Project, error)
	ProjectsByUser(ctx context.Context, userID string) ([]store.Project, error)
	RunByID(ctx context.Context, id string) (store.Run, error)
	RenameProject(ctx context.Context, id, name string, now time.Time) error
	DeleteProject(ctx context.Context, id string) error
	RunsByProject(ctx context.Context, projectID string) ([]store.Run, error)
	securityStore
}

// Deps are the parts the server is built from.
type Deps struct {
	Config    config.Config
	Version   string
	Store     Store
	Auth      *auth.Service
	Runs      *run.Manager
	Events    *events.Log
	Sandboxes sandbox.Provider
	// Lifecycle serves the /api/sandboxes routes.
	Lifecycle *lifecycle.Manager
	Versions  *version.Service
	Preview   *preview.Proxy
	Logger    *slog.Logger
	// Heartbeat is the SSE keep-alive interval (default 15 s).
	Heartbeat time.Duration
	// WebUI serves the browser app at /.
	WebUI http.Handler
	// Thumbnails holds the dashboard's preview screenshots.
	Thumbnails *screenshot.Thumbnails
	// PreviewSigner signs preview URLs; OIDC, if set, enables single sign-on.
	PreviewSigner *preview.Signer
	// DirectPreview, if set, makes the preview URLs handed to browsers:
	// an engine's own expiring signed URL for a sandbox port, instead of
	// QuickVibe's preview host (Daytona's signed preview mode).
	DirectPreview func(ctx context.Context, sandboxID string, port int, ttl time.Duration) (string, error)
	OIDC          *auth.OIDC
	// Now is the clock of rate limits and throttles (time.Now if nil).
	Now func() time.Time
}

type Server struct {
	Deps
	handler    http.Handler
	registered []Route
	limits     *limits
}

func New(d Deps) *Server {
	if d.Heartbeat <= 0 {
		d.Heartbeat = 15 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Config.Security = withSecurityDefaults(d.Config.Security)
	s := &Server{Deps: d, limits: newLimits(d.Config.Security.RatePromptsPerMinute, d.Now)}
	s.handler = s.routes()
	return s
}

// ServeHTTP routes preview hosts to the preview proxy and everything else
// to the app.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id, port, ok := s.Config.ParsePreviewHost(r.Host); ok {
		s.Preview.Serve(w, r, id, port)
		return
	}
	s.handler.ServeHTTP(w, r)
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	userKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// currentUser is the authenticated user; routes behind requireUser always have one.
func currentUser(ctx context.Context) store.User {
	u, _ := ctx.Value(userKey).(store.User)
	return u
}

// withRequestID tags each request and logs it when done.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		start := time.Now()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
		s.Logger.Debug("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}

// handle adapts a handlerFunc, sending its error through writeError.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// requireUser admits a request with a valid session cookie or bearer token.
func (s *Server) requireUser(h handlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), userKey, u)))
	})
}

func (s *Server) authenticate(r *http.Request) (store.User, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			return store.User{}, auth.ErrUnauthenticated
		}
		if strings.HasPrefix(token, "qvs_") {
			return s.Auth.SessionUser(r.Context(), token)
		}
		return s.Auth.TokenUser(r.Context(), token)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.User{}, auth.ErrUnauthenticated
	}
	return s.Auth.SessionUser(r.Context(), c.Value)
}
