package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
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
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, Disabled: !u.DisabledAt.IsZero(), CreatedAt: u.CreatedAt}
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
	// Failed sign-ins are throttled per account and per address, so neither
	// one account nor one client can guess passwords quickly.
	acct, addr := throttleKey(in.Email), remoteAddr(r)
	if wait := max(s.limits.loginAccount.Blocked(acct), s.limits.loginAddress.Blocked(addr)); wait > 0 {
		return tooManyRequests("too_many_attempts", "too many failed sign-ins", wait)
	}
	err = s.signIn(w, r, in, http.StatusOK)
	if errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrAccountDisabled) {
		s.limits.loginAccount.Add(acct)
		s.limits.loginAddress.Add(addr)
		if aerr := s.audit(r, auth.AuditSignInFailed, store.User{}, acct, "password"); aerr != nil {
			return aerr
		}
		return err
	}
	if err == nil {
		s.limits.loginAccount.Reset(acct)
	}
	return err
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, in credentials, status int) error {
	token, u, expires, err := s.Auth.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditSignIn, u, u.ID, "password"); err != nil {
		return err
	}
	s.setSessionCookie(w, token, expires)
	writeJSON(w, status, map[string]any{"user": toUserJSON(u)})
	return nil
}

// setSessionCookie hands the browser its session.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	// Host-only (no Domain), so the cookie never reaches preview hosts.
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Config.PublicURL.Scheme == "https",
	})
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
	if err := s.audit(r, auth.AuditTokenCreated, currentUser(r.Context()), t.ID, t.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "token": token, "createdAt": t.CreatedAt})
	return nil
}
