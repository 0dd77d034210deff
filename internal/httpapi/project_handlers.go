package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
)

type projectJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	SandboxID    string    `json:"sandboxId,omitempty"`
	SandboxState string    `json:"sandboxState,omitempty"`
	PreviewURL   string    `json:"previewUrl,omitempty"`
	ThumbnailURL string    `json:"thumbnailUrl,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	Model        string    `json:"model,omitempty"`
}

func (s *Server) toProjectJSON(p store.Project) projectJSON {
	out := projectJSON{ID: p.ID, Name: p.Name, Type: p.Type, Status: p.Status, SandboxID: p.SandboxID, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Model: p.Model}
	if p.SandboxID != "" {
		if pt, ok := project.Lookup(p.Type); ok {
			out.PreviewURL = s.Config.PreviewURL(p.SandboxID, pt.Port)
		}
	}
	if s.Thumbnails != nil {
		if t, ok := s.Thumbnails.ModTime(p.ID); ok {
			out.ThumbnailURL = "/api/projects/" + p.ID + "/thumbnail.png?v=" + strconv.FormatInt(t.UnixMilli(), 10)
		}
	}
	return out
}

// ownedProject loads the project named in the path if the caller owns it.
// Someone else's project is "not found", so ids reveal nothing.
func (s *Server) ownedProject(r *http.Request) (store.Project, error) {
	p, err := s.Store.ProjectByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.Project{}, err
	}
	if !auth.CanAccessProject(currentUser(r.Context()), p) {
		return store.Project{}, errNotFound
	}
	return p, nil
}

func (s *Server) projectTypes(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"types": project.Types()})
	return nil
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Store.ProjectsByUser(r.Context(), currentUser(r.Context()).ID)
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, s.toProjectJSON(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
	return nil
}

const maxProjectName = 100

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	in, err := decode[struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Model string `json:"model"`
	}](w, r)
	if err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > maxProjectName {
		return badRequest(fmt.Sprintf("a project name of 1 to %d characters is required", maxProjectName))
	}
	if in.Type == "" {
		in.Type = "website"
	}
	if _, ok := project.Lookup(in.Type); !ok {
		ids := make([]string, 0)
		for _, t := range project.Types() {
			ids = append(ids, t.ID)
		}
		return badRequest(fmt.Sprintf("unknown project type %q: choose one of %s", in.Type, strings.Join(ids, ", ")))
	}
	if in.Model != "" {
		if err := llm.ValidateModelID(in.Model); err != nil {
			return badRequest(err.Error())
		}
	}
	now := time.Now().UTC()
	p := store.Project{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: currentUser(r.Context()).ID,
		Name: in.Name, Type: in.Type, Status: run.ProjectIdle, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreateProject(r.Context(), p); err != nil {
		return err
	}
	if in.Model != "" {
		if err := s.Store.SetProjectModel(r.Context(), p.ID, in.Model); err != nil {
			return err
		}
		p.Model = in.Model
	}
	writeJSON(w, http.StatusCreated, s.toProjectJSON(p))
	return nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	out := s.toProjectJSON(p)
	if p.SandboxID != "" {
		info, err := s.Sandboxes.Get(r.Context(), p.SandboxID)
		switch {
		case err == nil:
			out.SandboxState = string(info.State)
		case errors.Is(err, sandbox.ErrNotFound):
			out.SandboxState = "deleted"
		default:
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type fileJSON struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	IsDir   bool      `json:"isDir"`
	ModTime time.Time `json:"modTime"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	out, err := s.workspaceFiles(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": out})
	return nil
}

// workspaceFiles lists p's workspace. An engine that cannot read a stopped
// sandbox (Daytona) answers from the latest version, which every run and
// editor save brings up to date.
func (s *Server) workspaceFiles(ctx context.Context, p store.Project) ([]fileJSON, error) {
	out := []fileJSON{}
	if p.SandboxID == "" {
		return out, nil
	}
	files, err := s.Sandboxes.ListFiles(ctx, p.SandboxID, "")
	switch {
	case errors.Is(err, sandbox.ErrNotRunning):
		saved, err := s.Versions.Files(ctx, p.ID, "")
		if errors.Is(err, version.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for _, f := range saved {
			out = append(out, fileJSON{Path: f.Path, Size: f.Size})
		}
		return out, nil
	case err != nil && !errors.Is(err, sandbox.ErrNotFound):
		return nil, err
	}
	for _, f := range files {
		out = append(out, fileJSON{Path: f.Path, Size: f.Size, IsDir: f.IsDir, ModTime: f.ModTime})
	}
	return out, nil
}

// getFile returns one workspace file's bytes. Generated code is untrusted:
// it is served as inert text so it can never run on the app's origin.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	return s.serveWorkspaceFile(w, r, p)
}

// serveWorkspaceFile sends the file named by the {path} wildcard from p's
// workspace, inert.
func (s *Server) serveWorkspaceFile(w http.ResponseWriter, r *http.Request, p store.Project) error {
	if p.SandboxID == "" {
		return errNotFound
	}
	data, err := s.Sandboxes.ReadFile(r.Context(), p.SandboxID, r.PathValue("path"))
	if errors.Is(err, sandbox.ErrNotRunning) {
		data, err = s.Versions.ReadFile(r.Context(), p.ID, "", r.PathValue("path"))
	}
	if err != nil {
		return err
	}
	s.writeInert(w, r, data)
	return nil
}
