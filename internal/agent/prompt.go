package agent

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// ProjectWebsite is a static HTML/CSS/JS site served by the platform.
const ProjectWebsite = "website"

// basePrompt holds what every project type shares: how to use the tools.
const basePrompt = `You are the coding agent of QuickVibe, an app builder. A user describes an app and you build it by calling tools that act on a workspace: a directory inside a sandbox. All paths are relative to the workspace root (for example index.html or css/style.css).

How to work:
- Make reasonable choices instead of asking questions; the user sees the result in a live preview and will ask for changes.
- Create or replace whole files with write_file. Always write complete files: never leave placeholders such as "..." or "rest unchanged".
- When the user asks for a change to an existing app, change it with edit_file rather than rewriting whole files, and keep what the user edited by hand.
- For a small change to an existing file use edit_file. Its old_string must match the file exactly, whitespace included, and only once; read the file first if you are not sure of its current content.
- Keep every file small and focused (well under 400 lines); split styles and scripts into their own files instead of writing one huge file.
- Use run_command only for quick checks that finish on their own. Commands have a time limit.
- A tool error tells you what went wrong; fix the cause and go on.
- When you are done, reply with a short summary (two or three sentences) of what you built or changed. Do not repeat the code in your reply.`

const websitePrompt = `Project type: website, a static site of plain HTML, CSS and JavaScript.
- The entry point is index.html in the workspace root. Link other files with relative paths (css/style.css, js/app.js).
- The platform itself serves the workspace on port 3000 and shows it in the preview. Never start a server, dev server or file watcher (no npm start, npx serve, python -m http.server, and so on).
- There is no build step and nothing to install: write files the browser loads as they are. No npm packages, no frameworks that need compiling, no TypeScript.
- Do not depend on CDNs or other outside resources; the site must work offline. Use system font stacks, CSS and inline SVG instead of external fonts, libraries and images.
- Make it look good: responsive layout, sensible spacing, accessible colours and semantic HTML.`

// Project types besides ProjectWebsite; internal/project lists them for users.
const (
	ProjectReact     = "react"
	ProjectGame      = "game"
	ProjectMobile    = "mobile"
	ProjectDashboard = "dashboard"
	ProjectAPI       = "api"
)

// staticRules are shared by the types the platform serves as plain files.
const staticRules = `
- The platform itself serves the workspace on port 3000 and shows it in the preview. Never start a server, dev server or file watcher.
- There is no build step and nothing to install: write files the browser loads as they are. No npm packages, no frameworks that need compiling, no TypeScript.
- Do not depend on CDNs or other outside resources; the app must work offline. Use system font stacks, CSS and inline SVG instead of external fonts, libraries and images.`

const reactPrompt = `Project type: react, a single-page app with Vite, React 18 and TypeScript.
- The workspace starts from a Vite template: package.json, vite.config.ts, tsconfig.json, index.html and src/main.tsx, src/App.tsx, src/index.css. Build on it; keep vite.config.ts listening on 0.0.0.0:5173 with allowedHosts true.
- The platform runs the Vite dev server on port 5173 and shows it in the preview; it installs dependencies when node_modules is missing. Never start a dev server yourself.
- Write function components and hooks in .tsx files under src/, one component per file, typed props, no any.
- To add a package, add it to package.json and run "npm install --no-audit --no-fund --cache /tmp/npm-cache" with run_command; prefer few, well-known packages.
- Check your work with "npx tsc --noEmit" before you finish; fix every type error it reports.`

const gamePrompt = `Project type: game, a browser game drawn on a <canvas> in plain JavaScript.
- The entry point is index.html; the game code lives in game.js (split larger games into several scripts loaded in order).
- Use one requestAnimationFrame loop with separate update and draw steps, time-based movement (delta time), and support both keyboard and touch/pointer input.
- Show score, lives or level on the canvas or in the page; offer start, game over and restart states.
- Draw shapes and sprites with the canvas API or inline SVG data; no external images, sounds or libraries.` + staticRules

const mobilePrompt = `Project type: mobile, a mobile-first web app that can be installed on a phone (a PWA).
- Design for a 390px wide touch screen first: large tap targets (at least 44px), a bottom tab bar or clear navigation, safe-area insets; then let it scale up to desktop.
- Keep manifest.webmanifest, icon.svg and the service worker sw.js working: when you add files, add them to the cache list in sw.js.
- Store user data on the device with localStorage or IndexedDB.` + staticRules

const dashboardPrompt = `Project type: dashboard, charts, key numbers and tables over data.
- Keep the data in data.js (sample data unless the user gives real data) and the rendering in dashboard.js.
- Draw charts as inline SVG or on a <canvas> yourself: bar, line, pie and sparkline charts with axes, labels and tooltips via <title>. No chart libraries.
- Tables get sortable columns and number formatting with toLocaleString; cards show the key numbers.` + staticRules

const apiPrompt = `Project type: api, a JSON HTTP API in Node.js with a small page to try it.
- server.js is the entry point; the platform runs "node server.js" with PORT=3000 and shows "/" in the preview. Never start it yourself.
- Use Node's standard library only (node:http, node:fs, node:crypto); there is no network to install packages.
- Serve JSON under /api/..., validate input and answer 400 with {"error": "..."} for bad input, 404 for unknown routes.
- Keep public/index.html as a small page that documents the endpoints and calls them with fetch.
- Keep data in memory or in a JSON file in the workspace.`

// typePrompts holds the part of the system prompt specific to each type.
var typePrompts = map[string]string{
	ProjectWebsite:   websitePrompt,
	ProjectReact:     reactPrompt,
	ProjectGame:      gamePrompt,
	ProjectMobile:    mobilePrompt,
	ProjectDashboard: dashboardPrompt,
	ProjectAPI:       apiPrompt,
}

// systemPrompt is the system prompt for a project type.
func systemPrompt(projectType string) (string, error) {
	if p, ok := typePrompts[projectType]; ok {
		return basePrompt + "\n\n" + p, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownProjectType, projectType)
}

// isNoisyDir says whether a listing skips a directory's insides because they
// only add noise.
func isNoisyDir(name string) bool { return name == "node_modules" || name == ".git" }

const maxListed = 500

// formatListing renders files as one path per line, directories with a
// trailing slash, sizes for files.
func formatListing(files []sandbox.FileInfo) string {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b sandbox.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	var b strings.Builder
	listed := 0
	for _, f := range files {
		p := strings.TrimPrefix(path.Clean(f.Path), "./")
		if insideNoisyDir(p) {
			continue
		}
		if listed == maxListed {
			fmt.Fprintf(&b, "(listing stops after %d entries)\n", maxListed)
			break
		}
		listed++
		if f.IsDir {
			b.WriteString(p + "/")
			if isNoisyDir(path.Base(p)) {
				b.WriteString(" (contents not listed)")
			}
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, "%s (%s)\n", p, humanSize(f.Size))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func insideNoisyDir(p string) bool {
	parts := strings.Split(p, "/")
	for _, part := range parts[:len(parts)-1] {
		if isNoisyDir(part) {
			return true
		}
	}
	return false
}

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1024*1024))
	}
}

// treeText introduces the workspace to the model in the first user message.
func treeText(files []sandbox.FileInfo) string {
	listing := formatListing(files)
	if listing == "" {
		return "<workspace>\nThe workspace is empty.\n</workspace>"
	}
	return "<workspace>\nFiles in the workspace now:\n" + listing + "\n</workspace>"
}
