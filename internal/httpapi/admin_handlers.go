package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

type adminUserJSON struct {
	userJSON
	Projects       int `json:"projects"`
	Runs           int `json:"runs"`
	RunningSandbox int `json:"runningSandboxes"`
	RunsInProgress int `json:"runsInProgress"`
}

// adminUsers lists every account with its usage.
func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.Auth.Users(r.Context())
	if err != nil {
		return err
	}
	usage, err := s.Store.UsageByUser(r.Context())
	if err != nil {
		return err
	}
	out := make([]adminUserJSON, 0, len(us))
	for _, u := range us {
		running, err := s.Store.CountRunningRunsByUser(r.Context(), u.ID)
		if err != nil {
			return err
		}
		sandboxes, err := s.runningSandboxes(r.Context(), u, "")
		if err != nil {
			return err
		}
		use := usage[u.ID]
		out = append(out, adminUserJSON{userJSON: toUserJSON(u), Projects: use.Projects, Runs: use.Runs, RunningSandbox: sandboxes, RunsInProgress: running})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// adminDisableUser disables an account: its sessions end, its tokens and
// previews are refused, its runs are cancelled and its sandboxes stop.
func (s *Server) adminDisableUser(w http.ResponseWriter, r *http.Request) error {
	admin := currentUser(r.Context())
	u, err := s.Auth.SetDisabled(r.Context(), admin, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditUserDisabled, admin, u.ID, u.Email); err != nil {
		return err
	}
	ps, err := s.Store.ProjectsByUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		active, err := s.activeRun(r, p.ID)
		if err != nil {
			errs = append(errs, err)
		} else if active != "" && s.Runs != nil {
			// The run may have ended on its own meanwhile; that is fine.
			if err := s.Runs.Cancel(active); err != nil {
				s.Logger.Info("cancel run of disabled user", "run_id", active, "err", err)
			}
		}
		if p.SandboxID == "" {
			continue
		}
		if err := s.Sandboxes.Stop(r.Context(), p.SandboxID); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
	return nil
}

// activeRun returns the ID of the project's run in progress, if any.
func (s *Server) activeRun(r *http.Request, projectID string) (string, error) {
	runs, err := s.Store.RunsByProject(r.Context(), projectID)
	if err != nil {
		return "", err
	}
	for _, run := range runs {
		if run.Status == "running" {
			return run.ID, nil
		}
	}
	return "", nil
}

func (s *Server) adminEnableUser(w http.ResponseWriter, r *http.Request) error {
	admin := currentUser(r.Context())
	u, err := s.Auth.SetDisabled(r.Context(), admin, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditUserEnabled, admin, u.ID, u.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
	return nil
}

// adminInvite creates an invitation; its token is shown only here.
func (s *Server) adminInvite(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[struct {
		Email string `json:"email"`
	}](w, r)
	if err != nil {
		return err
	}
	admin := currentUser(r.Context())
	token, inv, err := s.Auth.CreateInvite(r.Context(), admin, in.Email)
	if err != nil {
		return err
	}
	if err := s.audit(r, auth.AuditInviteCreated, admin, inv.Email, ""); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"email": inv.Email, "token": token, "expiresAt": inv.ExpiresAt,
		"url": s.Config.PublicURL.JoinPath("/signup").String() + "?invite=" + token,
	})
	return nil
}

type auditJSON struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Event      string    `json:"event"`
	ActorID    string    `json:"actorId,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	RemoteAddr string    `json:"remoteAddr,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// adminAudit returns the newest security events (?limit=, default 100).
func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) error {
	n := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be a whole number from 1 to 1000")
		}
	}
	evs, err := s.Auth.AuditLog(r.Context(), n)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(evs))
	for i, e := range evs {
		out[i] = auditJSON{ID: e.ID, At: e.CreatedAt, Event: e.Event, ActorID: e.ActorID, Subject: e.Subject, RemoteAddr: e.RemoteAddr, Detail: e.Detail}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
