package httpapi

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// The handlers the browser app needs beyond the core API: renaming and
// deleting projects, a project's run history (to restore a conversation on
// reload) and the dashboard's thumbnails.

func (s *Server) renameProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	in, err := decode[struct {
		Name string `json:"name"`
	}](w, r)
	if err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > maxProjectName {
		return badRequest(fmt.Sprintf("a project name of 1 to %d characters is required", maxProjectName))
	}
	now := time.Now().UTC()
	if err := s.Store.RenameProject(r.Context(), p.ID, in.Name, now); err != nil {
		return err
	}
	p.Name, p.UpdatedAt = in.Name, now
	writeJSON(w, http.StatusOK, s.toProjectJSON(p))
	return nil
}

// deleteProject removes a project, its sandbox, runs, events, version
// history and thumbnail.
// A project with a run in progress is refused: the run would go on writing
// into a sandbox that no longer exists.
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if p.Status == run.ProjectRunning {
		return &apiError{Status: http.StatusConflict, Code: "project_busy", Message: "this project has a run in progress: cancel it before deleting the project"}
	}
	if p.SandboxID != "" {
		if err := s.Sandboxes.Delete(r.Context(), p.SandboxID); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			return fmt.Errorf("delete sandbox %s: %w", p.SandboxID, err)
		}
	}
	if err := s.Store.DeleteProject(r.Context(), p.ID); err != nil {
		return err
	}
	// The project row is gone, so what is left on disk is unreachable:
	// failing to remove it costs only disk, and is logged.
	if s.Versions != nil {
		if err := s.Versions.Remove(p.ID); err != nil {
			s.Logger.Warn("delete project history", "project_id", p.ID, "err", err)
		}
	}
	if s.Thumbnails != nil {
		if err := s.Thumbnails.Delete(p.ID); err != nil {
			s.Logger.Warn("delete thumbnail", "project_id", p.ID, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listProjectRuns lists a project's runs oldest first; the browser replays
// each run's events to rebuild the conversation and resumes a running one.
func (s *Server) listProjectRuns(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	runs, err := s.Store.RunsByProject(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]runJSON, 0, len(runs))
	for _, rn := range runs {
		out = append(out, toRunJSON(rn))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
	return nil
}

func (s *Server) projectThumbnail(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if s.Thumbnails == nil {
		return errNotFound
	}
	return serveThumbnail(w, r, func() (*os.File, time.Time, error) { return s.Thumbnails.Open(p.ID) })
}

// versionThumbnail serves the screenshot taken after the run that recorded
// a version; versions from edits, imports and restores have none (404).
func (s *Server) versionThumbnail(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if s.Thumbnails == nil || s.Versions == nil {
		return errNotFound
	}
	// Resolving the version first means a prefix works as elsewhere and an
	// unknown version gets the versions API's own not-found answer.
	v, err := s.Versions.Get(r.Context(), p.ID, r.PathValue("v"))
	if err != nil {
		return err
	}
	return serveThumbnail(w, r, func() (*os.File, time.Time, error) { return s.Thumbnails.OpenVersion(p.ID, v.ID) })
}

func serveThumbnail(w http.ResponseWriter, r *http.Request, open func() (*os.File, time.Time, error)) error {
	f, mod, err := open()
	if errors.Is(err, fs.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=0, must-revalidate")
	http.ServeContent(w, r, "thumbnail.png", mod, f)
	return nil
}
