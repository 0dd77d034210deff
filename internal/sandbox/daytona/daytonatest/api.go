package daytonatest

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// apiAndToolbox routes the API (/api/...) and the toolbox
// (/toolbox/{sandboxId}/...), which share one listener.
func (s *Server) apiAndToolbox() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST /api/sandbox", s.createSandbox)
	api.HandleFunc("GET /api/sandbox", s.listSandboxes)
	api.HandleFunc("GET /api/sandbox/{id}", s.withSandbox(s.getSandbox))
	api.HandleFunc("DELETE /api/sandbox/{id}", s.withSandbox(s.deleteSandbox))
	api.HandleFunc("POST /api/sandbox/{id}/start", s.withSandbox(s.startSandbox))
	api.HandleFunc("POST /api/sandbox/{id}/stop", s.withSandbox(s.stopSandbox))
	api.HandleFunc("POST /api/sandbox/{id}/archive", s.withSandbox(s.archiveSandbox))
	api.HandleFunc("POST /api/sandbox/{id}/recover", s.withSandbox(s.recoverSandbox))
	api.HandleFunc("POST /api/sandbox/{id}/autostop/{m}", s.withSandbox(s.setInterval(func(sb *fakeSandbox, m int) { sb.autoStop = m })))
	api.HandleFunc("POST /api/sandbox/{id}/autoarchive/{m}", s.withSandbox(s.setInterval(func(sb *fakeSandbox, m int) { sb.autoArchive = m })))
	api.HandleFunc("POST /api/sandbox/{id}/autodelete/{m}", s.withSandbox(s.setInterval(func(sb *fakeSandbox, m int) { sb.autoDelete = m })))
	api.HandleFunc("POST /api/sandbox/{id}/last-activity", s.withSandbox(s.lastActivity))
	api.HandleFunc("PUT /api/sandbox/{id}/labels", s.withSandbox(s.putLabels))
	api.HandleFunc("GET /api/sandbox/{id}/toolbox-proxy-url", s.withSandbox(func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		writeJSON(w, http.StatusOK, map[string]string{"url": s.toolboxURL()})
	}))
	api.HandleFunc("GET /api/sandbox/{id}/ports/{port}/preview-url", s.withSandbox(s.previewURLHandler))
	api.HandleFunc("GET /api/sandbox/{id}/ports/{port}/signed-preview-url", s.withSandbox(s.signedPreviewURL))
	api.HandleFunc("POST /api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire", s.withSandbox(s.expireSignedPreviewURL))
	api.HandleFunc("GET /api/snapshots/{name}", s.getSnapshot)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, r, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
	})

	root := http.NewServeMux()
	root.HandleFunc("GET /api/config", s.getConfig)
	root.Handle("/api/", s.apiMiddleware(api))
	root.Handle("/toolbox/{sandbox}/", s.toolboxHandler())
	return root
}

// apiMiddleware checks the API key, applies faults and sets the rate
// limit headers.
func (s *Server) apiMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.bearerOK(r) {
			apiError(w, r, http.StatusUnauthorized, "Unauthorized")
			return
		}
		sub := strings.TrimPrefix(r.URL.Path, "/api")
		throttler := throttlerFor(r.Method, sub)
		s.mu.Lock()
		s.setRateLimitHeadersLocked(w.Header(), throttler)
		if throttler != "authenticated" {
			s.setRateLimitHeadersLocked(w.Header(), "authenticated")
		}
		s.mu.Unlock()
		if f := s.takeFault(r.Method, sub); f != nil {
			writeFault(w, r, f, throttler, false)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerOK reports whether the request carries the API key.
func (s *Server) bearerOK(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token == s.opts.APIKey
}

// withSandbox resolves {id} (an id or a name) or answers 404.
func (s *Server) withSandbox(h func(http.ResponseWriter, *http.Request, *fakeSandbox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sb := s.lookupLocked(r.PathValue("id"))
		s.mu.Unlock()
		if sb == nil {
			apiError(w, r, http.StatusNotFound, fmt.Sprintf("Sandbox with ID or name %s not found", r.PathValue("id")))
			return
		}
		h(w, r, sb)
	}
}

// createRequest is CreateSandbox. Resources are pointers to tell "absent"
// from zero.
type createRequest struct {
	Name                string            `json:"name"`
	Snapshot            string            `json:"snapshot"`
	User                string            `json:"user"`
	Env                 map[string]string `json:"env"`
	Labels              map[string]string `json:"labels"`
	Public              bool              `json:"public"`
	Target              string            `json:"target"`
	CPU                 *int              `json:"cpu"`
	GPU                 *int              `json:"gpu"`
	Memory              *int              `json:"memory"`
	Disk                *int              `json:"disk"`
	AutoStopInterval    *int              `json:"autoStopInterval"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval"`
	BuildInfo           *struct {
		DockerfileContent string   `json:"dockerfileContent"`
		ContextHashes     []string `json:"contextHashes"`
	} `json:"buildInfo"`
}

// snapshotResources are the resources Daytona's default snapshots give.
var snapshotResources = map[string][3]int{
	"daytona-small":  {1, 1, 3},
	"daytona-medium": {2, 4, 8},
	"daytona-large":  {4, 8, 10},
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decodeBody(r, &req); err != nil {
		apiError(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	resources := req.CPU != nil || req.GPU != nil || req.Memory != nil || req.Disk != nil
	switch {
	case req.BuildInfo != nil && req.Snapshot != "":
		apiError(w, r, http.StatusBadRequest, "Cannot specify a snapshot when using a build info entry")
		return
	case req.Snapshot != "" && resources:
		apiError(w, r, http.StatusBadRequest, "Cannot specify Sandbox resources when using a snapshot")
		return
	case req.BuildInfo != nil && req.BuildInfo.DockerfileContent == "":
		apiError(w, r, http.StatusBadRequest, "buildInfo.dockerfileContent is required")
		return
	}
	snapshot := req.Snapshot
	if snapshot == "" && req.BuildInfo == nil {
		snapshot = s.opts.Snapshots[0]
	}
	if snapshot != "" && !slices.Contains(s.opts.Snapshots, snapshot) {
		// Daytona answers an unknown snapshot at create with 400, not 404.
		apiError(w, r, http.StatusBadRequest, fmt.Sprintf("Snapshot %s not found. Did you add it through the Daytona Dashboard?", snapshot))
		return
	}
	res, ok := snapshotResources[snapshot]
	if !ok {
		res = snapshotResources[DefaultSnapshot]
	}
	cpu, gpu, mem, disk := res[0], 0, res[1], res[2]
	if req.CPU != nil {
		cpu = *req.CPU
	}
	if req.GPU != nil {
		gpu = *req.GPU
	}
	if req.Memory != nil {
		mem = *req.Memory
	}
	if req.Disk != nil {
		disk = *req.Disk
	}
	now := time.Now().UTC()
	id := uuid.NewString()
	sb := &fakeSandbox{
		id: id, name: cmp.Or(req.Name, id), snapshot: snapshot,
		user: cmp.Or(req.User, "daytona"), target: cmp.Or(req.Target, "us"),
		env: cloneMap(req.Env), labels: cloneMap(req.Labels), public: req.Public,
		cpu: cpu, gpu: gpu, memory: mem, disk: disk, buildInfo: req.BuildInfo != nil,
		state: "creating", desiredState: "started",
		autoStop: 15, autoArchive: 7 * 24 * 60, autoDelete: -1,
		createdAt: now, updatedAt: now, lastActivityAt: now,
		changed:  make(chan struct{}),
		sessions: make(map[string]*session),
		ptys:     make(map[string]*ptySession),
	}
	if req.BuildInfo != nil {
		sb.state = "pending_build"
	}
	if req.AutoStopInterval != nil {
		sb.autoStop = *req.AutoStopInterval
	}
	if req.AutoArchiveInterval != nil {
		sb.autoArchive = *req.AutoArchiveInterval
	}
	if req.AutoDeleteInterval != nil {
		sb.autoDelete = *req.AutoDeleteInterval
	}
	s.mu.Lock()
	if s.lookupLocked(sb.name) != nil {
		s.mu.Unlock()
		apiError(w, r, http.StatusConflict, fmt.Sprintf("Sandbox with name %s already exists", sb.name))
		return
	}
	s.sandboxes[id] = sb
	s.mu.Unlock()

	fail := s.takeFailure()
	s.goBackground(func(ctx context.Context) { s.bringUp(ctx, sb, fail) })
	if req.BuildInfo == nil && s.opts.ServerWait > 0 {
		// From a snapshot Daytona waits on the server for started.
		s.waitSettled(r.Context(), sb, s.opts.ServerWait)
		if failed := s.failedStart(sb); failed != "" {
			apiError(w, r, http.StatusBadRequest, failed)
			return
		}
	}
	writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
}

// failedStart returns Daytona's message when the sandbox ended in a
// failure state, or "".
func (s *Server) failedStart(sb *fakeSandbox) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb.state == "error" || sb.state == "build_failed" {
		return "Sandbox failed to start: " + sb.errorReason
	}
	return ""
}

func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	sb.desiredState = "destroyed"
	s.setStateLocked(sb, "destroying")
	s.mu.Unlock()
	body := s.sandboxJSON(sb)
	s.goBackground(func(ctx context.Context) { s.destroy(ctx, sb) })
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) startSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	from := sb.state
	switch from {
	case "started":
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
		return
	case "stopped", "archived":
	case "error", "build_failed":
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, "Sandbox is in an errored state; recover it first")
		return
	default:
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, fmt.Sprintf("Sandbox state change in progress (state %s)", from))
		return
	}
	sb.desiredState = "started"
	if from == "archived" {
		s.setStateLocked(sb, "restoring")
	} else {
		s.setStateLocked(sb, "starting")
	}
	s.mu.Unlock()
	fail := s.takeFailure()
	s.goBackground(func(ctx context.Context) { s.bringUp(ctx, sb, fail) })
	// Starting from archived answers at once; the client polls.
	if from != "archived" && s.opts.ServerWait > 0 {
		s.waitSettled(r.Context(), sb, s.opts.ServerWait)
		if failed := s.failedStart(sb); failed != "" {
			apiError(w, r, http.StatusBadRequest, failed)
			return
		}
	}
	writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
}

func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	switch sb.state {
	case "stopped", "archived":
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
		return
	case "started", "error":
	default:
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, fmt.Sprintf("Sandbox state change in progress (state %s)", sb.state))
		return
	}
	s.beginBringDownLocked(w, sb, "stopping", "stopped")
}

func (s *Server) archiveSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	if sb.state != "stopped" {
		state := sb.state
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, fmt.Sprintf("Sandbox is not stopped (state %s)", state))
		return
	}
	s.beginBringDownLocked(w, sb, "archiving", "archived")
}

// beginBringDownLocked moves sb into the transitional state, answers with
// it, and reaches the target state in the background, as Daytona's
// stop and archive do. The caller holds s.mu; it is released here.
func (s *Server) beginBringDownLocked(w http.ResponseWriter, sb *fakeSandbox, transitional, target string) {
	sb.desiredState = target
	s.setStateLocked(sb, transitional)
	s.mu.Unlock()
	body := s.sandboxJSON(sb)
	s.goBackground(func(ctx context.Context) { s.bringDown(ctx, sb, target) })
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) recoverSandbox(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	if sb.state != "error" {
		state := sb.state
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, fmt.Sprintf("Sandbox is not in an errored state (state %s)", state))
		return
	}
	if !sb.recoverable {
		s.mu.Unlock()
		apiError(w, r, http.StatusBadRequest, "Sandbox is not recoverable")
		return
	}
	sb.desiredState = "started"
	s.setStateLocked(sb, "starting")
	s.mu.Unlock()
	skipStart := r.URL.Query().Get("skipStart") == "true"
	s.goBackground(func(ctx context.Context) {
		if skipStart {
			s.bringDown(ctx, sb, "stopped")
			return
		}
		s.bringUp(ctx, sb, nil)
	})
	s.waitSettled(r.Context(), sb, s.opts.ServerWait)
	writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
}

func (s *Server) setInterval(set func(*fakeSandbox, int)) func(http.ResponseWriter, *http.Request, *fakeSandbox) {
	return func(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
		m, err := strconv.Atoi(r.PathValue("m"))
		if err != nil {
			apiError(w, r, http.StatusBadRequest, "Validation failed (numeric string is expected)")
			return
		}
		s.mu.Lock()
		set(sb, m)
		sb.updatedAt = time.Now().UTC()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
	}
}

func (s *Server) lastActivity(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.touch(sb)
	w.WriteHeader(http.StatusCreated)
}

// touch resets the sandbox's idle timer.
func (s *Server) touch(sb *fakeSandbox) {
	s.mu.Lock()
	sb.lastActivityAt = time.Now().UTC()
	s.mu.Unlock()
}

func (s *Server) putLabels(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	var req struct {
		Labels map[string]string `json:"labels"`
	}
	if err := decodeBody(r, &req); err != nil || req.Labels == nil {
		apiError(w, r, http.StatusBadRequest, "labels must be an object")
		return
	}
	s.mu.Lock()
	sb.labels = maps.Clone(req.Labels)
	sb.updatedAt = time.Now().UTC()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"labels": req.Labels})
}

func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var want map[string]string
	if l := q.Get("labels"); l != "" {
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			apiError(w, r, http.StatusBadRequest, "labels must be a JSON object of strings")
			return
		}
	}
	s.mu.Lock()
	var matched []*fakeSandbox
	for _, sb := range s.sandboxes {
		ok := true
		for k, v := range want {
			if sb.labels[k] != v {
				ok = false
			}
		}
		if ok {
			matched = append(matched, sb)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(matched, func(a, b *fakeSandbox) int {
		return cmp.Or(a.createdAt.Compare(b.createdAt), strings.Compare(a.id, b.id))
	})
	if s.opts.ListShape == "array" {
		items := make([]map[string]any, 0, len(matched))
		for _, sb := range matched {
			items = append(items, s.sandboxJSON(sb))
		}
		writeJSON(w, http.StatusOK, items)
		return
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			apiError(w, r, http.StatusBadRequest, "limit must be an integer from 1 to 200")
			return
		}
		limit = n
	}
	limit = min(limit, s.opts.PageSize)
	start := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 {
			apiError(w, r, http.StatusBadRequest, "invalid cursor")
			return
		}
		start = min(n, len(matched))
	}
	end := min(start+limit, len(matched))
	items := make([]map[string]any, 0, end-start)
	for _, sb := range matched[start:end] {
		items = append(items, s.sandboxJSON(sb))
	}
	var next *string
	if end < len(matched) {
		c := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "nextCursor": next})
}

// sandboxJSON is the Sandbox DTO: every required field of the spec,
// numbers as numbers.
func (s *Server) sandboxJSON(sb *fakeSandbox) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]any{
		"id":                  sb.id,
		"organizationId":      "org-fake",
		"name":                sb.name,
		"user":                sb.user,
		"env":                 cloneMap(sb.env),
		"labels":              cloneMap(sb.labels),
		"public":              sb.public,
		"networkBlockAll":     false,
		"target":              sb.target,
		"cpu":                 sb.cpu,
		"gpu":                 sb.gpu,
		"memory":              sb.memory,
		"disk":                sb.disk,
		"state":               sb.state,
		"desiredState":        sb.desiredState,
		"recoverable":         sb.recoverable,
		"backupState":         "None",
		"autoStopInterval":    sb.autoStop,
		"autoArchiveInterval": sb.autoArchive,
		"autoDeleteInterval":  sb.autoDelete,
		"volumes":             []any{},
		"createdAt":           sb.createdAt.Format(time.RFC3339Nano),
		"updatedAt":           sb.updatedAt.Format(time.RFC3339Nano),
		"lastActivityAt":      sb.lastActivityAt.Format(time.RFC3339Nano),
		"toolboxProxyUrl":     s.toolboxURL(),
		"sandboxClass":        "container",
		"daemonVersion":       Version,
		"runnerId":            "runner-fake",
	}
	if sb.snapshot != "" {
		m["snapshot"] = sb.snapshot
	}
	if sb.errorReason != "" {
		m["errorReason"] = sb.errorReason
	}
	return m
}

func (s *Server) previewURLHandler(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		apiError(w, r, http.StatusBadRequest, "Invalid port")
		return
	}
	s.mu.Lock()
	token := sb.authToken
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"sandboxId": sb.id, "url": s.previewURL(port, sb.id), "token": token})
}

// signedToken is a signed preview token: bound to a sandbox and a port,
// valid until it expires or is revoked.
type signedToken struct {
	sandboxID string
	port      int
	expires   time.Time
}

func (s *Server) signedPreviewURL(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		apiError(w, r, http.StatusBadRequest, "Invalid port")
		return
	}
	secs := 60
	if e := r.URL.Query().Get("expiresInSeconds"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > 86400 {
			apiError(w, r, http.StatusBadRequest, "expiresInSeconds must be between 1 and 86400")
			return
		}
		secs = n
	}
	token := newToken(16)
	s.mu.Lock()
	s.signed[token] = signedToken{sandboxID: sb.id, port: port, expires: time.Now().Add(time.Duration(secs) * time.Second)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"sandboxId": sb.id, "port": port, "token": token, "url": s.previewURL(port, token)})
}

func (s *Server) expireSignedPreviewURL(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	s.mu.Lock()
	if t, ok := s.signed[r.PathValue("token")]; ok && t.sandboxID == sb.id {
		delete(s.signed, r.PathValue("token"))
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !slices.Contains(s.opts.Snapshots, name) {
		apiError(w, r, http.StatusNotFound, fmt.Sprintf("Snapshot %s not found", name))
		return
	}
	res, ok := snapshotResources[name]
	if !ok {
		res = snapshotResources[DefaultSnapshot]
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": name, "name": name, "organizationId": "org-fake", "general": true, "state": "active",
		"imageName": "daytonaio/sandbox:0.5.0", "cpu": res[0], "gpu": 0, "mem": res[1], "disk": res[2],
		"createdAt": now, "updatedAt": now, "lastUsedAt": now,
	})
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":                Version,
		"defaultSnapshot":        s.opts.Snapshots[0],
		"proxyTemplateUrl":       fmt.Sprintf("http://{{PORT}}-{{sandboxId}}.%s:%s", ProxyDomain, s.proxyPort()),
		"proxyToolboxUrl":        s.toolboxURL(),
		"maxAutoArchiveInterval": 43200,
		"dashboardUrl":           s.api.URL + "/dashboard",
	})
}
