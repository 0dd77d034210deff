package httpapi

import (
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

const sessionCookie = "qv_session"

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	IsAdmin   bool      `json:"isAdmin"`
	CreatedAt time.Time `json:"createdAt"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt}
}

// setup creates the first (admin) user while there is none, and signs it in.
func (s *Server) setup(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[credentials](w, r)
	if err != nil {
		return err
	}
	if _, err := s.Auth.Setup(r.Context(), in.Email, in.Password); err != nil {
		return err
	}
	return s.signIn(w, r, in, http.StatusCreated)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[credentials](w, r)
	if err != nil {
		return err
	}
	return s.signIn(w, r, in, http.StatusOK)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, in credentials, status int) error {
	token, u, expires, err := s.Auth.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	// Host-only (no Domain), so the cookie never reaches preview hosts.
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Config.PublicURL.Scheme == "https",
	})
	writeJSON(w, status, map[string]any{"user": toUserJSON(u)})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Auth.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(currentUser(r.Context()))})
	return nil
}

// createToken returns a new API token; this is the only time it is shown.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[struct {
		Name string `json:"name"`
	}](w, r)
	if err != nil {
		return err
	}
	token, t, err := s.Auth.CreateAPIToken(r.Context(), currentUser(r.Context()), in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "token": token, "createdAt": t.CreatedAt})
	return nil
}
