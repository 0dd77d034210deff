// Package project describes the kinds of project a user can create: what
// each is, what the agent specialises in for it, its starter files, and how
// its dev server runs inside a sandbox.
package project

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"
)

// Type is one kind of project.
type Type struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Emoji       string `json:"emoji"`
	Description string `json:"description"`
	// Agent is what the agent specialises in for this type, shown to users
	// as a badge (short) and a description.
	Agent Agent `json:"agent"`
	// DevCommand starts the dev server inside the sandbox's workspace.
	DevCommand string `json:"-"`
	// Port is where the dev server listens inside the sandbox.
	Port int `json:"port"`
	// StartTimeout, if longer than the server's default, is how long the
	// dev server may take to answer: the first start installs packages.
	StartTimeout time.Duration `json:"-"`
}

// Agent describes the agent's specialisation for a project type.
type Agent struct {
	Badge       string `json:"badge"`
	Description string `json:"description"`
}

// staticServer serves the workspace as it is, for types with no build step.
const staticServer = "qv-serve --port 3000 --dir ."

var types = []Type{
	{
		ID: "website", Name: "Website", Emoji: "🌐",
		Description: "A static site in plain HTML, CSS and JavaScript.",
		Agent:       Agent{Badge: "HTML · CSS · JS", Description: "Writes semantic, responsive pages with no build step and no outside resources."},
		DevCommand:  staticServer, Port: 3000,
	},
	{
		ID: "react", Name: "React app", Emoji: "⚛️",
		Description: "A single-page app with Vite, React and TypeScript.",
		Agent:       Agent{Badge: "Vite · React · TS", Description: "Builds typed React components and hooks; the Vite dev server reloads the preview as it writes."},
		// npm install runs only when the dependencies are missing, so a
		// restart of the dev server is fast; its cache stays out of the
		// workspace (and so out of versions).
		DevCommand:   "test -x node_modules/.bin/vite || npm install --no-audit --no-fund --loglevel=error --cache /tmp/npm-cache; exec node_modules/.bin/vite --host 0.0.0.0 --port 5173 --strictPort",
		Port:         5173,
		StartTimeout: 5 * time.Minute,
	},
	{
		ID: "game", Name: "Game", Emoji: "🎮",
		Description: "A browser game drawn on a canvas in JavaScript.",
		Agent:       Agent{Badge: "Canvas · game loop", Description: "Writes a requestAnimationFrame game loop with keyboard and touch controls, collisions and score."},
		DevCommand:  staticServer, Port: 3000,
	},
	{
		ID: "mobile", Name: "Mobile app", Emoji: "📱",
		Description: "A mobile-first web app that can be installed on a phone.",
		Agent:       Agent{Badge: "Mobile-first PWA", Description: "Designs for touch and small screens first, with a web app manifest and a service worker so it installs."},
		DevCommand:  staticServer, Port: 3000,
	},
	{
		ID: "dashboard", Name: "Dashboard", Emoji: "📊",
		Description: "Charts, numbers and tables over your data.",
		Agent:       Agent{Badge: "Charts · tables", Description: "Lays out cards, SVG charts and sortable tables from sample or pasted data, with no chart library."},
		DevCommand:  staticServer, Port: 3000,
	},
	{
		ID: "api", Name: "API", Emoji: "🔌",
		Description: "A JSON API in Node.js with a small page to try it.",
		Agent:       Agent{Badge: "Node · JSON API", Description: "Writes HTTP endpoints on Node's standard library with input validation and a test page."},
		DevCommand:  "PORT=3000 exec node server.js", Port: 3000,
	},
}

//go:embed all:starters
var starters embed.FS

// Types lists every project type, in display order.
func Types() []Type {
	return append([]Type(nil), types...)
}

// Lookup finds a project type by id.
func Lookup(id string) (Type, bool) {
	for _, t := range types {
		if t.ID == id {
			return t, true
		}
	}
	return Type{}, false
}

// IDs lists the ids of every project type, for error messages.
func IDs() []string {
	ids := make([]string, len(types))
	for i, t := range types {
		ids[i] = t.ID
	}
	return ids
}

// Starter returns the files a new project of type id begins with, by path
// relative to the workspace, so its preview works before any model call.
func Starter(id string) (map[string][]byte, error) {
	if _, ok := Lookup(id); !ok {
		return nil, fmt.Errorf("project: unknown type %q", id)
	}
	root := path.Join("starters", id)
	files := map[string][]byte{}
	err := fs.WalkDir(starters, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := starters.ReadFile(p)
		if err != nil {
			return err
		}
		files[p[len(root)+1:]] = data
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("project: starter of %s: %w", id, err)
	}
	return files, nil
}

// StarterPaths lists a starter's paths, sorted.
func StarterPaths(files map[string][]byte) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}
