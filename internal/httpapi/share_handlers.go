package httpapi

import (
	"html/template"
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/store"
)

type shareJSON struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Active    bool       `json:"active"`
	// Token and URL are only in the answer that creates the share.
	Token string `json:"token,omitempty"`
	URL   string `json:"url,omitempty"`
}

func (s *Server) toShareJSON(sh store.Share) shareJSON {
	out := shareJSON{ID: sh.ID, CreatedAt: sh.CreatedAt, Active: sh.Live(s.Now())}
	if !sh.ExpiresAt.IsZero() {
		out.ExpiresAt = &sh.ExpiresAt
	}
	if !sh.RevokedAt.IsZero() {
		out.RevokedAt = &sh.RevokedAt
	}
	return out
}

func (s *Server) shareURL(token string) string {
	return s.Config.PublicURL.JoinPath("/s", token).String()
}

// createShare makes a read-only link to the project, optionally expiring
// ({"expiresIn": "24h"}).
func (s *Server) createShare(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	in, err := decode[struct {
		ExpiresIn string `json:"expiresIn"`
	}](w, r)
	if err != nil {
		return err
	}
	var expires time.Time
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			return badRequest(`expiresIn must be a positive duration such as "24h", or left out for a link that lasts until revoked`)
		}
		expires = s.Now().Add(d)
	}
	u := currentUser(r.Context())
	token, sh, err := s.Auth.CreateShare(r.Context(), u, p, expires)
	if err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditShareCreated, u, sh.ID, "project "+p.ID); err != nil {
		return err
	}
	out := s.toShareJSON(sh)
	out.Token, out.URL = token, s.shareURL(token)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	shs, err := s.Store.SharesByProject(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]shareJSON, len(shs))
	for i, sh := range shs {
		out[i] = s.toShareJSON(sh)
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if err := s.Auth.RevokeShare(r.Context(), p, r.PathValue("shareId")); err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditShareRevoked, currentUser(r.Context()), r.PathValue("shareId"), "project "+p.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sharedView is what a share link shows: the project, its preview and its
// files, never its terminal, prompts or runs.
type sharedView struct {
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	ExpiresAt *time.Time     `json:"expiresAt,omitempty"`
	Preview   *signedPreview `json:"preview,omitempty"`
	Files     []fileJSON     `json:"files"`
}

func (s *Server) sharedView(r *http.Request) (sharedView, string, error) {
	sh, p, err := s.Auth.ShareByToken(r.Context(), r.PathValue("token"))
	if err != nil {
		return sharedView{}, "", err
	}
	v := sharedView{Name: p.Name, Type: p.Type, Files: []fileJSON{}}
	if !sh.ExpiresAt.IsZero() {
		v.ExpiresAt = &sh.ExpiresAt
	}
	if p.SandboxID == "" {
		return v, "", nil
	}
	if pt, ok := project.Lookup(p.Type); ok {
		sp, err := s.signPreview(r.Context(), auth.ShareSubject(sh), p.SandboxID, pt.Port, sh.ExpiresAt)
		if err != nil {
			return sharedView{}, "", err
		}
		v.Preview = &sp
	}
	files, err := s.workspaceFiles(r.Context(), p)
	if err != nil {
		return sharedView{}, "", err
	}
	v.Files = files
	return v, p.SandboxID, nil
}

// getShared is the share link's read-only API.
func (s *Server) getShared(w http.ResponseWriter, r *http.Request) error {
	v, _, err := s.sharedView(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// getSharedFile returns one file of a shared project, as inert text.
func (s *Server) getSharedFile(w http.ResponseWriter, r *http.Request) error {
	_, p, err := s.Auth.ShareByToken(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	return s.serveWorkspaceFile(w, r, p)
}

var sharePage = template.Must(template.New("share").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.View.Name}} · shared on QuickVibe</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#0f1115;color:#e6e6e6;display:grid;grid-template-columns:16rem 1fr;height:100vh}
nav{overflow:auto;padding:1rem;border-right:1px solid #2a2f3a}nav a{color:#9cc3ff;display:block;text-decoration:none;white-space:nowrap}
main{display:flex;flex-direction:column}h1{font-size:1.1rem;margin:0 0 .5rem}iframe{flex:1;border:0;background:#fff}
p{color:#a9b1bd;padding:1rem}</style></head>
<body><nav><h1>{{.View.Name}}</h1>{{range .View.Files}}{{if not .IsDir}}<a href="{{$.FileBase}}{{.Path}}" target="code">{{.Path}}</a>{{end}}{{end}}</nav>
<main>{{with .View.Preview}}<iframe title="preview" src="{{.URL}}" sandbox="allow-scripts allow-forms allow-same-origin allow-popups"></iframe>{{else}}<p>This project has no preview yet.</p>{{end}}</main></body></html>`))

// sharePageHTML is the page a share link opens: the preview beside the
// file list; files open as plain text.
func (s *Server) sharePageHTML(w http.ResponseWriter, r *http.Request) error {
	v, _, err := s.sharedView(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	base := "/api/shares/" + r.PathValue("token") + "/files/"
	if err := sharePage.Execute(w, struct {
		View     sharedView
		FileBase string
	}{v, base}); err != nil {
		s.Logger.Debug("write share page", "request_id", requestID(r.Context()), "err", err)
	}
	return nil
}
