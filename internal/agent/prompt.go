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

// systemPrompt is the system prompt for a project type.
func systemPrompt(projectType string) (string, error) {
	switch projectType {
	case ProjectWebsite:
		return basePrompt + "\n\n" + websitePrompt, nil
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
