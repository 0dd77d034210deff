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
	// AccessAdmin routes need a signed-in admin; other users get 403.
	AccessAdmin Access = "admin"
	// AccessShare routes answer anyone holding a live share token (in the
	// path); without one they are "not found".
	AccessShare Access = "share"
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
		case AccessPublic, AccessShare:
			mux.Handle(pattern, s.handle(h))
		case AccessAdmin:
			mux.Handle(pattern, s.requireAdmin(h))
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
	add("PATCH /api/projects/{id}", AccessUser, s.renameProject)
	add("DELETE /api/projects/{id}", AccessUser, s.deleteProject)
	add("GET /api/projects/{id}/runs", AccessUser, s.listProjectRuns)
	add("GET /api/projects/{id}/thumbnail.png", AccessUser, s.projectThumbnail)
	add("GET /api/projects/{id}/files", AccessUser, s.listFiles)
	add("GET /api/projects/{id}/files/{path...}", AccessUser, s.getFile)
	add("POST /api/projects/{id}/prompts", AccessUser, s.limitPrompt(s.createPrompt))
	add("PUT /api/projects/{id}/files/{path...}", AccessUser, s.putFile)
	add("GET /api/projects/{id}/versions", AccessUser, s.listVersions)
	add("GET /api/projects/{id}/versions/{v}", AccessUser, s.getVersion)
	add("GET /api/projects/{id}/versions/{v}/files/{path...}", AccessUser, s.getVersionFile)
	add("GET /api/projects/{id}/versions/{v}/diff", AccessUser, s.versionDiff)
	add("POST /api/projects/{id}/versions/{v}/restore", AccessUser, s.restoreVersion)
	add("GET /api/projects/{id}/versions/{v}/thumbnail.png", AccessUser, s.versionThumbnail)
	add("GET /api/projects/{id}/export.zip", AccessUser, s.exportZip)
	add("GET /api/projects/{id}/export.bundle", AccessUser, s.exportBundle)
	add("POST /api/projects/import", AccessUser, s.importProject)
	add("GET /api/projects/{id}/remote", AccessUser, s.getRemote)
	add("PUT /api/projects/{id}/remote", AccessUser, s.putRemote)
	add("POST /api/projects/{id}/push", AccessUser, s.pushProject)
	add("GET /api/runs/{id}", AccessUser, s.getRun)
	add("GET /api/runs/{id}/events", AccessUser, s.runEvents)
	add("GET /api/runs/{id}/usage", AccessUser, s.runUsage)
	add("GET /api/projects/{id}/usage", AccessUser, s.projectUsage)
	add("GET /api/usage", AccessUser, s.myUsage)
	add("POST /api/runs/{id}/cancel", AccessUser, s.cancelRun)
	// Security (issue 6): accounts, previews, sharing, admin, single sign-on.
	add("POST /api/auth/signup", AccessPublic, s.signup)
	add("GET /api/auth/oidc/login", AccessPublic, s.oidcLogin)
	add("GET /api/auth/oidc/callback", AccessPublic, s.oidcCallback)
	add("POST /api/auth/logout-all", AccessUser, s.logoutAll)
	add("GET /api/auth/tokens", AccessUser, s.listTokens)
	add("DELETE /api/auth/tokens/{id}", AccessUser, s.revokeToken)
	add("GET /api/projects/{id}/preview-url", AccessUser, s.previewURL)
	add("PUT /api/projects/{id}/visibility", AccessUser, s.setPreviewVisibility)
	add("GET /api/projects/{id}/shares", AccessUser, s.listShares)
	add("POST /api/projects/{id}/shares", AccessUser, s.createShare)
	add("DELETE /api/projects/{id}/shares/{shareId}", AccessUser, s.revokeShare)
	add("GET /api/shares/{token}", AccessShare, s.getShared)
	add("GET /api/shares/{token}/files/{path...}", AccessShare, s.getSharedFile)
	add("GET /s/{token}", AccessShare, s.sharePageHTML)
	add("GET /api/admin/users", AccessAdmin, s.adminUsers)
	add("POST /api/admin/users/{id}/disable", AccessAdmin, s.adminDisableUser)
	add("POST /api/admin/users/{id}/enable", AccessAdmin, s.adminEnableUser)
	add("POST /api/admin/invites", AccessAdmin, s.adminInvite)
	add("GET /api/admin/audit", AccessAdmin, s.adminAudit)

	add("GET /api/sandboxes", AccessUser, s.listSandboxes)
	add("GET /api/sandboxes/{id}", AccessUser, s.getSandbox)
	add("POST /api/sandboxes/{id}/start", AccessUser, s.startSandbox)
	add("POST /api/sandboxes/{id}/stop", AccessUser, s.stopSandbox)
	add("DELETE /api/sandboxes/{id}", AccessUser, s.deleteSandbox)
	add("GET /api/sandboxes/{id}/logs", AccessUser, s.sandboxLogs)
	add("GET /api/sandboxes/{id}/terminal", AccessUser, s.sandboxTerminal)
	// Any other /api path: 401 for strangers, 404 for users.
	add("/api/", AccessUser, func(w http.ResponseWriter, r *http.Request) error { return errNotFound })

	mux.Handle("/", s.WebUI)

	// Browsers get cross-origin protection on every state-changing request;
	// API clients with a bearer token send no Origin and pass.
	return s.withRequestID(http.NewCrossOriginProtection().Handler(mux))
}

// Routes lists the registered API routes.
func (s *Server) Routes() []Route { return append([]Route(nil), s.registered...) }
