package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/quickvibe/quickvibe/internal/project"
	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
)

// Versions: a project's history, restore, file saves, export, import and
// push. Every route acts on a project the caller owns (ownedProject).

type versionJSON struct {
	ID        string    `json:"id"`
	ParentID  string    `json:"parentId,omitempty"`
	Message   string    `json:"message"`
	Kind      string    `json:"kind,omitempty"`
	RunID     string    `json:"runId,omitempty"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"createdAt"`
}

func toVersionJSON(v version.Version) versionJSON {
	return versionJSON{ID: v.ID, ParentID: v.ParentID, Message: v.Message, Kind: v.Kind, RunID: v.RunID, Author: v.AuthorEmail, CreatedAt: v.Time}
}

// versionError maps the version domain's errors; nil if err is not one.
func versionError(err error) *apiError {
	if ue, ok := errors.AsType[*version.UnsafeError](err); ok {
		return &apiError{Status: http.StatusBadRequest, Code: "archive_refused", Message: "the upload was refused: " + ue.Msg}
	}
	if re, ok := errors.AsType[*version.InvalidRemoteError](err); ok {
		return &apiError{Status: http.StatusBadRequest, Code: "bad_remote", Message: re.Msg}
	}
	if pe, ok := errors.AsType[*version.PushError](err); ok {
		return &apiError{Status: http.StatusBadGateway, Code: "push_failed", Message: pe.Msg}
	}
	switch {
	case errors.Is(err, version.ErrNoVersions):
		return &apiError{Status: http.StatusNotFound, Code: "no_versions", Message: "the project has no versions yet: send a prompt or save a file first"}
	case errors.Is(err, version.ErrNotFound):
		return errNotFound
	case errors.Is(err, version.ErrBadPath):
		return &apiError{Status: http.StatusBadRequest, Code: "bad_path", Message: "the path must be relative, use '/' and stay inside the project (no '..'), outside .git and node_modules"}
	case errors.Is(err, version.ErrNoRemote):
		return &apiError{Status: http.StatusConflict, Code: "no_remote", Message: "no remote is configured: PUT /api/projects/{id}/remote with {\"url\": …, \"token\": …} first"}
	}
	return nil
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	vs, err := s.Versions.List(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]versionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVersionJSON(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	v, err := s.Versions.Get(r.Context(), p.ID, r.PathValue("v"))
	if err != nil {
		return err
	}
	files, err := s.Versions.Files(r.Context(), p.ID, v.ID)
	if err != nil {
		return err
	}
	type fileJSON struct {
		Path string `json:"path"`
		Size int64  `json:"size"`
	}
	fs := make([]fileJSON, 0, len(files))
	for _, f := range files {
		fs = append(fs, fileJSON{Path: f.Path, Size: f.Size})
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": toVersionJSON(v), "files": fs})
	return nil
}

// getVersionFile serves one file of a version, inert like getFile.
func (s *Server) getVersionFile(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	data, err := s.Versions.ReadFile(r.Context(), p.ID, r.PathValue("v"), r.PathValue("path"))
	if err != nil {
		return err
	}
	s.writeInert(w, r, data)
	return nil
}

func (s *Server) versionDiff(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	d, err := s.Versions.Diff(r.Context(), p.ID, r.PathValue("v"))
	if err != nil {
		return err
	}
	type fileDiffJSON struct {
		Path    string `json:"path"`
		Added   int    `json:"added"`
		Removed int    `json:"removed"`
	}
	files := make([]fileDiffJSON, 0, len(d.Files))
	for _, f := range d.Files {
		files = append(files, fileDiffJSON{Path: f.Path, Added: f.Added, Removed: f.Removed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"versionId": d.VersionID, "parentId": d.ParentID, "files": files, "diff": d.Patch})
	return nil
}

// liveSandbox is the project's sandbox if it still exists, else "": a
// project without one gets its files from the latest version when its next
// sandbox is made.
func (s *Server) liveSandbox(r *http.Request, p store.Project) (string, error) {
	if p.SandboxID == "" {
		return "", nil
	}
	if _, err := s.Sandboxes.Get(r.Context(), p.SandboxID); err != nil {
		if errors.Is(err, sandbox.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	return p.SandboxID, nil
}

func commitBy(r *http.Request, kind, msg string) version.Commit {
	u := currentUser(r.Context())
	return version.Commit{Message: msg, Kind: kind, AuthorEmail: u.Email, Time: time.Now()}
}

func (s *Server) restoreVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	target, err := s.Versions.Get(r.Context(), p.ID, r.PathValue("v"))
	if err != nil {
		return err
	}
	release, err := s.Runs.Reserve(p.ID)
	if err != nil {
		return err
	}
	defer release()
	sandboxID, err := s.liveSandbox(r, p)
	if err != nil {
		return err
	}
	v, err := s.Versions.Restore(r.Context(), p.ID, target.ID, sandboxID,
		commitBy(r, version.KindRestore, "Restored version "+target.ID[:12]))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": toVersionJSON(v), "restoredFrom": target.ID})
	return nil
}

// maxSavedFile bounds a file saved from the editor.
const maxSavedFile = 5 << 20

// putFile saves one file from the editor: into the sandbox if the project
// has one, and always as a new version "Edited <path>".
func (s *Server) putFile(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	path := r.PathValue("path")
	if !version.Versionable(path) {
		return fmt.Errorf("save %q: %w", path, version.ErrBadPath)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSavedFile))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the file is larger than %d MiB", maxSavedFile>>20)}
		}
		return badRequest("the file could not be read from the request")
	}
	release, err := s.Runs.Reserve(p.ID)
	if err != nil {
		return err
	}
	defer release()
	sandboxID, err := s.liveSandbox(r, p)
	if err != nil {
		return err
	}
	if sandboxID != "" {
		if err := s.Sandboxes.WriteFile(r.Context(), sandboxID, path, data); err != nil {
			return err
		}
	}
	v, err := s.Versions.Edit(r.Context(), p.ID, path, data, commitBy(r, version.KindEdit, "Edited "+path))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versionId": v.ID})
	return nil
}

// downloadName makes a file name from a project name.
func downloadName(name, suffix string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("project")
	}
	return b.String() + suffix
}

func (s *Server) exportZip(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	id, err := s.Versions.ResolveOrLatest(r.Context(), p.ID, r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": downloadName(p.Name, "-"+id[:12]+".zip")}))
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Versions.ExportZip(r.Context(), p.ID, id, w); err != nil {
		// Headers are sent; the client sees a truncated download.
		s.Logger.Error("export zip", "request_id", requestID(r.Context()), "project_id", p.ID, "err", err)
	}
	return nil
}

func (s *Server) exportBundle(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if _, err := s.Versions.ResolveOrLatest(r.Context(), p.ID, ""); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-git-bundle")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": downloadName(p.Name, ".bundle")}))
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Versions.ExportBundle(r.Context(), p.ID, w); err != nil {
		s.Logger.Error("export bundle", "request_id", requestID(r.Context()), "project_id", p.ID, "err", err)
	}
	return nil
}

// importProject creates a project from a multipart upload: field "file"
// (a zip archive or a git bundle), optional "name" and "type".
func (s *Server) importProject(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, version.MaxImportSize+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("send multipart/form-data with a field \"file\" holding a .zip or a git bundle")
	}
	var (
		name, typ, fileName string
		imported            *version.Version
	)
	projectID := uuid.Must(uuid.NewV7()).String()
	defer func() {
		if imported != nil {
			// Still set: the project was not recorded, so its history goes.
			if err := s.Versions.Remove(projectID); err != nil {
				s.Logger.Error("remove unrecorded import", "project_id", projectID, "err", err)
			}
		}
	}()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the upload is larger than %d MiB", version.MaxImportSize>>20)}
			}
			return badRequest("the multipart body cannot be read")
		}
		switch part.FormName() {
		case "file":
			if imported != nil {
				return badRequest("send one file only")
			}
			fileName = part.FileName()
			v, err := s.Versions.Import(r.Context(), projectID, part, commitBy(r, version.KindImport, "Imported "+fileName))
			if err != nil {
				return err
			}
			imported = &v
		case "name", "type":
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return badRequest("the multipart body cannot be read")
			}
			if part.FormName() == "name" {
				name = string(b)
			} else {
				typ = string(b)
			}
		default:
			return badRequest(fmt.Sprintf("unknown field %q: send file, and optionally name and type", part.FormName()))
		}
	}
	if imported == nil {
		return badRequest("the field \"file\" is missing: attach a .zip or a git bundle")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(fileName, ".zip"), ".bundle"))
	}
	if name == "" {
		name = "Imported project"
	}
	if utf8.RuneCountInString(name) > maxProjectName {
		return badRequest(fmt.Sprintf("a project name of 1 to %d characters is required", maxProjectName))
	}
	if typ == "" {
		typ = "website"
	}
	if _, ok := project.Lookup(typ); !ok {
		return badRequest(fmt.Sprintf("unknown project type %q", typ))
	}
	now := time.Now().UTC()
	p := store.Project{
		ID: projectID, UserID: currentUser(r.Context()).ID,
		Name: name, Type: typ, Status: run.ProjectIdle, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreateProject(r.Context(), p); err != nil {
		return err
	}
	v := *imported
	imported = nil
	writeJSON(w, http.StatusCreated, map[string]any{"project": s.toProjectJSON(p), "version": toVersionJSON(v)})
	return nil
}

type remoteJSON struct {
	URL      string `json:"url"`
	HasToken bool   `json:"hasToken"`
}

func (s *Server) putRemote(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	in, err := decode[struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}](w, r)
	if err != nil {
		return err
	}
	rm, err := s.Versions.SetRemote(r.Context(), p.ID, in.URL, in.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, remoteJSON{URL: rm.URL, HasToken: rm.HasToken})
	return nil
}

func (s *Server) getRemote(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	rm, err := s.Versions.GetRemote(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, remoteJSON{URL: rm.URL, HasToken: rm.HasToken})
	return nil
}

func (s *Server) pushProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	if err := s.Versions.Push(r.Context(), p.ID); err != nil {
		return err
	}
	v, err := s.Versions.Latest(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pushed": true, "versionId": v.ID})
	return nil
}
