// Package web serves the browser app, embedded in the binary.
//
// `make ui` builds the app (web/, Vite) into dist/app, which git ignores:
// the built bundle is never committed. A binary built without it serves the
// committed dist/index.html, a page that says how to build the UI.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// appDir is where Vite writes the build, relative to dist.
const appDir = "app"

// Built reports whether the binary embeds a built app.
func Built() bool {
	_, err := fs.Stat(dist, "dist/"+appDir+"/index.html")
	return err == nil
}

// Handler serves the embedded app; unknown paths fall back to index.html so
// client-side routes work on reload.
func Handler() http.Handler {
	root := "dist"
	if Built() {
		root = "dist/" + appDir
	}
	files, err := fs.Sub(dist, root)
	if err != nil {
		panic(err) // the embed pattern guarantees dist exists
	}
	fileServer := http.FileServer(http.FS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		path := r.URL.Path
		if path != "/" {
			if _, err := fs.Stat(files, strings.TrimPrefix(path, "/")); err != nil {
				r = r.Clone(r.Context())
				r.URL.Path = "/"
			}
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/" {
			h.Set("Cache-Control", "no-cache")
		} else if strings.HasPrefix(r.URL.Path, "/assets/") {
			// Vite puts a content hash in every asset name.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		fileServer.ServeHTTP(w, r)
	})
}
