package httpapi

import (
	"net/http"
)

// Access says who may call a route.
type Access string

const (
	// AccessPublic routes answer anyone.
	AccessPublic Access = "public"
	// AccessUser routes need a signed-in user (session cookie or bearer token).
	AccessUser Access = "user"
)

// Route is one registered route, listed so tests can walk every route the
// server has and a new one cannot be forgotten.
type Route struct {
	Pattern string
	Access  Access
}

// routes lists every route of the app in one place.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, access Access, h handlerFunc) {
		s.registered = append(s.registered, Route{Pattern: pattern, Access: access})
		switch access {
		case AccessPublic:
			mux.Handle(pattern, s.handle(h))
		case AccessUser:
			mux.Handle(pattern, s.requireUser(h))
		default:
			panic("httpapi: route " + pattern + " has unknown access " + string(access))
		}
	}

	add("GET /api/status", AccessPublic, s.status)
	add("POST /api/auth/setup", AccessPublic, s.setup)
	add("POST /api/auth/login", AccessPublic, s.login)

	add("POST /api/auth/logout", AccessUser, s.logout)
	add("GET /api/auth/me", AccessUser, s.me)
	add("POST /api/auth/tokens", AccessUser, s.createToken)
	add("GET /api/project-types", AccessUser, s.projectTypes)
	add("GET /api/projects", AccessUser, s.listProjects)
	add("POST /api/projects", AccessUser, s.createProject)
	add("GET /api/projects/{id}", AccessUser, s.getProject)
	add("GET /api/projects/{id}/files", AccessUser, s.listFiles)
	add("GET /api/projects/{id}/files/{path...}", AccessUser, s.getFile)
	add("POST /api/projects/{id}/prompts", AccessUser, s.createPrompt)
	add("GET /api/runs/{id}", AccessUser, s.getRun)
	add("GET /api/runs/{id}/events", AccessUser, s.runEvents)
	add("POST /api/runs/{id}/cancel", AccessUser, s.cancelRun)
	// Any other /api path: 401 for strangers, 404 for users.
	add("/api/", AccessUser, func(w http.ResponseWriter, r *http.Request) error { return errNotFound })

	mux.Handle("/", s.WebUI)

	// Browsers get cross-origin protection on every state-changing request;
	// API clients with a bearer token send no Origin and pass.
	return s.withRequestID(http.NewCrossOriginProtection().Handler(mux))
}

// Routes lists the registered API routes.
func (s *Server) Routes() []Route { return append([]Route(nil), s.registered...) }
