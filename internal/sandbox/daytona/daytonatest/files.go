package daytonatest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

func (s *Server) fileRoutes(handle func(string, toolboxFunc)) {
	handle("GET /files", s.listDir)
	handle("GET /files/info", s.fileInfo)
	handle("GET /files/download", s.download)
	handle("POST /files/bulk-upload", s.bulkUpload)
	handle("DELETE /files", s.deleteFile)
	handle("POST /files/folder", s.createFolder)
	handle("POST /files/move", s.moveFile)
}

// fileInfoJSON is the daemon's FileInfo.
func fileInfoJSON(name string, size int64, isDir bool, mod time.Time) map[string]any {
	mode, perms := "-rw-r--r--", "0644"
	if isDir {
		mode, perms = "drwxr-xr-x", "0755"
	}
	return map[string]any{
		"name": name, "size": size, "isDir": isDir, "mode": mode, "permissions": perms,
		"owner": "daytona", "group": "daytona",
		"modifiedAt": mod.UTC().Format(time.RFC3339), "modTime": mod.UTC().Format(time.RFC3339),
	}
}

// fileError answers a backend file error with the daemon's status.
func fileError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, sandbox.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, sandbox.ErrIsDirectory), errors.Is(err, sandbox.ErrPathEscapes),
		errors.Is(err, sandbox.ErrFileTooBig), errors.Is(err, fs.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, fs.ErrPermission):
		status = http.StatusForbidden
	}
	daemonError(w, r, status, err.Error())
}

// entries lists the direct children of rel.
func (s *Server) entries(r *http.Request, sb *fakeSandbox, rel string) ([]sandbox.FileInfo, error) {
	all, err := s.opts.Backend.ListFiles(r.Context(), sb.backendID, rel)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if rel != "." {
		prefix = rel + "/"
	}
	var out []sandbox.FileInfo
	for _, f := range all {
		name, ok := strings.CutPrefix(f.Path, prefix)
		if ok && name != "" && !strings.Contains(name, "/") {
			out = append(out, f)
		}
	}
	return out, nil
}

// stat finds one entry through its parent's listing; the backend has no
// stat of its own.
func (s *Server) stat(r *http.Request, sb *fakeSandbox, rel string) (sandbox.FileInfo, error) {
	if rel == "." {
		return sandbox.FileInfo{Path: ".", IsDir: true, ModTime: time.Now()}, nil
	}
	dir := path.Dir(rel)
	list, err := s.entries(r, sb, dir)
	if err != nil {
		return sandbox.FileInfo{}, err
	}
	for _, f := range list {
		if f.Path == rel {
			return f, nil
		}
	}
	return sandbox.FileInfo{}, fmt.Errorf("stat %s: %w", rel, fs.ErrNotExist)
}

func (s *Server) listDir(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	p := r.URL.Query().Get("path")
	if p == "" {
		p = WorkDir
	}
	rel, ok := backendPath(w, r, p)
	if !ok {
		return
	}
	list, err := s.entries(r, sb, rel)
	if err != nil {
		fileError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, f := range list {
		out = append(out, fileInfoJSON(path.Base(f.Path), f.Size, f.IsDir, f.ModTime))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) fileInfo(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	rel, ok := backendPath(w, r, r.URL.Query().Get("path"))
	if !ok {
		return
	}
	f, err := s.stat(r, sb, rel)
	if err != nil {
		fileError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fileInfoJSON(path.Base(path.Join(WorkDir, rel)), f.Size, f.IsDir, f.ModTime))
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	rel, ok := backendPath(w, r, r.URL.Query().Get("path"))
	if !ok {
		return
	}
	data, err := s.opts.Backend.ReadFile(r.Context(), sb.backendID, rel)
	if err != nil {
		fileError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(rel)))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

var uploadPartRE = regexp.MustCompile(`^files\[(\d+)\]\.(path|file)$`)

// bulkUpload is POST /files/bulk-upload: multipart parts files[i].path
// (text) then files[i].file (content); a file part whose path part has
// not come yet is refused. Parent directories are created.
func (s *Server) bulkUpload(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	mr, err := r.MultipartReader()
	if err != nil {
		daemonError(w, r, http.StatusBadRequest, "expected a multipart/form-data body: "+err.Error())
		return
	}
	type uploaded struct {
		Path  string `json:"path"`
		Bytes int    `json:"bytes"`
	}
	paths := map[string]string{}
	files := []uploaded{}
	var errs []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			daemonError(w, r, http.StatusBadRequest, "read multipart body: "+err.Error())
			return
		}
		m := uploadPartRE.FindStringSubmatch(part.FormName())
		if m == nil {
			part.Close()
			continue
		}
		idx, kind := m[1], m[2]
		data, err := io.ReadAll(io.LimitReader(part, 100<<20))
		part.Close()
		if err != nil {
			daemonError(w, r, http.StatusBadRequest, "read multipart part: "+err.Error())
			return
		}
		if kind == "path" {
			paths[idx] = string(data)
			continue
		}
		dest, ok := paths[idx]
		if !ok {
			daemonError(w, r, http.StatusBadRequest, fmt.Sprintf("files[%s].file came before files[%s].path", idx, idx))
			return
		}
		rel, ok := backendPath(w, r, dest)
		if !ok {
			return
		}
		if err := s.opts.Backend.WriteFile(r.Context(), sb.backendID, rel, data); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", dest, err))
			continue
		}
		files = append(files, uploaded{Path: dest, Bytes: len(data)})
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": errs, "files": files})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	rel, ok := backendPath(w, r, r.URL.Query().Get("path"))
	if !ok {
		return
	}
	if rel == "." {
		daemonError(w, r, http.StatusBadRequest, "refusing to delete the work dir")
		return
	}
	f, err := s.stat(r, sb, rel)
	if err != nil {
		fileError(w, r, err)
		return
	}
	if f.IsDir && r.URL.Query().Get("recursive") != "true" {
		daemonError(w, r, http.StatusBadRequest, "cannot delete a directory without recursive=true")
		return
	}
	if err := s.opts.Backend.DeleteFile(r.Context(), sb.backendID, rel); err != nil {
		fileError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createFolder is POST /files/folder?path=&mode=: the backend has no
// mkdir, so a placeholder file is written (creating the parents) and
// removed again.
func (s *Server) createFolder(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	rel, ok := backendPath(w, r, r.URL.Query().Get("path"))
	if !ok {
		return
	}
	if rel != "." {
		keep := path.Join(rel, ".daytonatest-keep")
		if err := s.opts.Backend.WriteFile(r.Context(), sb.backendID, keep, nil); err != nil {
			fileError(w, r, err)
			return
		}
		if err := s.opts.Backend.DeleteFile(r.Context(), sb.backendID, keep); err != nil {
			fileError(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusCreated)
}

// moveFile is POST /files/move?source=&destination=, a rename inside the
// sandbox.
func (s *Server) moveFile(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	q := r.URL.Query()
	src, ok := backendPath(w, r, q.Get("source"))
	if !ok {
		return
	}
	dst, ok := backendPath(w, r, q.Get("destination"))
	if !ok {
		return
	}
	if _, err := s.stat(r, sb, src); err != nil {
		fileError(w, r, err)
		return
	}
	cmd := "mv -f -T -- " + shellQuote(path.Join(WorkDir, src)) + " " + shellQuote(path.Join(WorkDir, dst))
	res, err := s.opts.Backend.Exec(r.Context(), sb.backendID, sandbox.ExecRequest{Command: cmd, Timeout: time.Minute})
	if err != nil {
		daemonError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if res.ExitCode != 0 {
		daemonError(w, r, http.StatusBadRequest, "move failed: "+strings.TrimSpace(res.Output))
		return
	}
	w.WriteHeader(http.StatusOK)
}
