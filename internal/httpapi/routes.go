package httpapi

import (
	"net/http"
)

// routes lists every route of the app in one place.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Open to anyone.
	mux.Handle("GET /api/status", s.handle(s.status))
	mux.Handle("POST /api/auth/setup", s.handle(s.setup))
	mux.Handle("POST /api/auth/login", s.handle(s.login))

	// Signed in.
	mux.Handle("POST /api/auth/logout", s.requireUser(s.logout))
	mux.Handle("GET /api/auth/me", s.requireUser(s.me))
	mux.Handle("POST /api/auth/tokens", s.requireUser(s.createToken))
	mux.Handle("GET /api/project-types", s.requireUser(s.projectTypes))
	mux.Handle("GET /api/projects", s.requireUser(s.listProjects))
	mux.Handle("POST /api/projects", s.requireUser(s.createProject))
	mux.Handle("GET /api/projects/{id}", s.requireUser(s.getProject))
	mux.Handle("GET /api/projects/{id}/files", s.requireUser(s.listFiles))
	mux.Handle("GET /api/projects/{id}/files/{path...}", s.requireUser(s.getFile))
	mux.Handle("POST /api/projects/{id}/prompts", s.requireUser(s.createPrompt))
	mux.Handle("GET /api/runs/{id}", s.requireUser(s.getRun))
	mux.Handle("GET /api/runs/{id}/events", s.requireUser(s.runEvents))
	mux.Handle("POST /api/runs/{id}/cancel", s.requireUser(s.cancelRun))
	// Any other /api path: 401 for strangers, 404 for users.
	mux.Handle("/api/", s.requireUser(func(w http.ResponseWriter, r *http.Request) error { return errNotFound }))

	mux.Handle("/", s.WebUI)

	// Browsers get cross-origin protection on every state-changing request;
	// API clients with a bearer token send no Origin and pass.
	return s.withRequestID(http.NewCrossOriginProtection().Handler(mux))
}
