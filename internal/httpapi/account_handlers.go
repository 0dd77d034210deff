package httpapi

import (
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
)

// signup registers a user: the first one freely (as admin), later ones with
// an invitation or while QV_OPEN_SIGNUP is on; then signs them in.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Invite   string `json:"invite"`
	}](w, r)
	if err != nil {
		return err
	}
	u, err := s.Auth.Signup(r.Context(), in.Email, in.Password, in.Invite, s.Config.Security.OpenSignup)
	if err != nil {
		return err
	}
	detail := "open"
	if in.Invite != "" {
		detail = "invite"
	}
	if err := s.audit(r, auth.AuditSignUp, u, u.ID, detail); err != nil {
		return err
	}
	return s.signIn(w, r, credentials{Email: in.Email, Password: in.Password}, http.StatusCreated)
}

// logoutAll ends every session of the caller, this one included.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r.Context())
	if err := s.Auth.LogoutAll(r.Context(), u); err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditSignOutAll, u, u.ID, ""); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Auth.APITokens(r.Context(), currentUser(r.Context()))
	if err != nil {
		return err
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken deletes one of the caller's API tokens; another user's token
// is "not found".
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r.Context())
	if err := s.Auth.RevokeAPIToken(r.Context(), u, r.PathValue("id")); err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditTokenRevoked, u, r.PathValue("id"), ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
