package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/store"
)

type runJSON struct {
	ID           string     `json:"id"`
	ProjectID    string     `json:"projectId"`
	Prompt       string     `json:"prompt"`
	Status       string     `json:"status"`
	ErrorCode    string     `json:"errorCode,omitempty"`
	ErrorMessage string     `json:"errorMessage,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	FinishedAt   *time.Time `json:"finishedAt,omitempty"`
}

func toRunJSON(r store.Run) runJSON {
	out := runJSON{ID: r.ID, ProjectID: r.ProjectID, Prompt: r.Prompt, Status: r.Status, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, CreatedAt: r.CreatedAt}
	if !r.FinishedAt.IsZero() {
		out.FinishedAt = &r.FinishedAt
	}
	return out
}

// createPrompt starts a run. With Accept: text/event-stream the response is
// that run's event stream; otherwise 202 with the run id.
func (s *Server) createPrompt(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	in, err := decode[struct {
		Prompt string `json:"prompt"`
		// Model, if set, overrides the project's model for this prompt.
		Model string `json:"model"`
	}](w, r)
	if err != nil {
		return err
	}
	if in.Model != "" {
		if err := llm.ValidateModelID(in.Model); err != nil {
			return badRequest(err.Error())
		}
		p.Model = in.Model // the project as this run sees it
	}
	run, err := s.Runs.Start(r.Context(), currentUser(r.Context()), p, in.Prompt)
	if err != nil {
		return err
	}
	w.Header().Set("X-Run-Id", run.ID)
	if wantsEventStream(r) {
		return s.streamEvents(w, r, run.ID, 0)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"runId": run.ID, "eventsUrl": "/api/runs/" + run.ID + "/events"})
	return nil
}

func wantsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func (s *Server) ownedRun(r *http.Request) (store.Run, error) {
	run, err := s.Store.RunByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.Run{}, err
	}
	if !auth.CanAccessRun(currentUser(r.Context()), run) {
		return store.Run{}, errNotFound
	}
	return run, nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.ownedRun(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRunJSON(run))
	return nil
}

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) error {
	run, err := s.ownedRun(r)
	if err != nil {
		return err
	}
	after, err := lastEventID(r)
	if err != nil {
		return err
	}
	return s.streamEvents(w, r, run.ID, after)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.ownedRun(r)
	if err != nil {
		return err
	}
	if err := s.Runs.Cancel(run.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"runId": run.ID, "status": "cancelling"})
	return nil
}
