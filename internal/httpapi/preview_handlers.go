package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/preview"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/store"
)

var errNoSandbox = &apiError{Status: http.StatusConflict, Code: "no_sandbox", Message: "this project has no sandbox yet: send a prompt first"}

// previewPort is the ?port= of r, or the project type's dev-server port.
func previewPort(r *http.Request, p store.Project) (int, error) {
	if v := r.URL.Query().Get("port"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return 0, badRequest("port must be a number from 1 to 65535")
		}
		return port, nil
	}
	pt, ok := project.Lookup(p.Type)
	if !ok {
		return 0, badRequest("this project type has no preview port: pass ?port=")
	}
	return pt.Port, nil
}

type signedPreview struct {
	URL string `json:"url"`
	// Token is QuickVibe's preview token; empty for direct engine URLs.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// signPreview makes a preview URL for subject that expires after the
// configured TTL, or at notAfter if that is sooner. With DirectPreview set
// the engine signs it instead, and the browser goes to the engine directly.
func (s *Server) signPreview(ctx context.Context, subject, sandboxID string, port int, notAfter time.Time) (signedPreview, error) {
	exp := s.Now().Add(s.Config.Security.PreviewTokenTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	if s.DirectPreview != nil {
		ttl := exp.Sub(s.Now())
		if ttl < time.Second {
			return signedPreview{}, errNotFound // the share ends now
		}
		u, err := s.DirectPreview(ctx, sandboxID, port, ttl)
		if err != nil {
			return signedPreview{}, err
		}
		return signedPreview{URL: u, ExpiresAt: exp.UTC().Truncate(time.Second)}, nil
	}
	token, err := s.PreviewSigner.Sign(preview.Claims{Subject: subject, SandboxID: sandboxID, Port: port, ExpiresAt: exp})
	if err != nil {
		return signedPreview{}, err
	}
	return signedPreview{
		URL:   s.Config.PreviewURL(sandboxID, port) + "?" + url.Values{preview.TokenParam: {token}}.Encode(),
		Token: token, ExpiresAt: exp.UTC().Truncate(time.Second),
	}, nil
}

// previewURL hands the caller a short-lived signed URL of the project's
// preview; the browser app asks again before it expires. The token also
// works in the X-QV-Preview-Token header.
func (s *Server) previewURL(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if p.SandboxID == "" {
		return errNoSandbox
	}
	port, err := previewPort(r, p)
	if err != nil {
		return err
	}
	sp, err := s.signPreview(r.Context(), auth.UserSubject(currentUser(r.Context())), p.SandboxID, port, time.Time{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sp)
	return nil
}

// setPreviewVisibility makes the project's preview public or private.
func (s *Server) setPreviewVisibility(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	in, err := decode[struct {
		PublicPreview *bool `json:"publicPreview"`
	}](w, r)
	if err != nil {
		return err
	}
	if in.PublicPreview == nil {
		return badRequest(`send {"publicPreview": true} or {"publicPreview": false}`)
	}
	if err := s.Store.SetProjectPublicPreview(r.Context(), p.ID, *in.PublicPreview, s.Now().UTC()); err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditPreviewPublic, currentUser(r.Context()), p.ID, "public="+strconv.FormatBool(*in.PublicPreview)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"publicPreview": *in.PublicPreview})
	return nil
}
