package toolbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A background process runs as `sh -c COMMAND`. For a plain command line
// such as the static site's `qv-serve --port 3000 --dir .` that
// shell would stay resident for nothing: every idle sandbox would carry an
// extra process (and its memory) whose only job is to wait. directCommand
// turns such a command into `exec COMMAND`, so the shell replaces itself
// with the program. The result is the same program with the same
// arguments, environment, pid group and exit status (a signal still reads
// as 128+n), only without the waiting shell.

// goMaxProcs is the GOMAXPROCS of the Go daemons that idle in every
// sandbox (the toolbox, and qv-serve when it serves a static site): they
// wait on sockets, and every further P costs each of them memory (its own
// caches and threads) that an idle sandbox pays for nothing.
const goMaxProcs = "GOMAXPROCS=1"

// plainWordChars are the characters a word may consist of for the shell
// to take it literally: no quoting, expansion, globbing, redirection,
// separators or comments can start with any of them.
const plainWordChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%"

// directCommand returns "exec " + command when command is one program
// with literal arguments that the environment's PATH resolves to an
// executable file, and command unchanged otherwise. Anything else (shell
// syntax, a builtin, a function, a variable assignment in front, a
// program that is not there) keeps the shell, and with it the shell's
// behaviour and error messages.
func directCommand(command string, env []string) string {
	// Only blanks separate words: a newline would separate commands.
	if strings.Trim(command, plainWordChars+" \t") != "" {
		return command
	}
	words := strings.Fields(command)
	if len(words) == 0 {
		return command
	}
	// `exec NAME=value prog` would try to run a program called NAME=value.
	if strings.Contains(words[0], "=") || !onPath(words[0], env) {
		return command
	}
	return "exec " + command
}

// processEnv is the environment of a background process: env, plus
// goMaxProcs for our own static server. Other programs (a Go build, say)
// keep the runtime's default.
func processEnv(command string, env []string) []string {
	words := strings.Fields(command)
	if len(words) > 0 && words[0] == "exec" {
		words = words[1:]
	}
	if len(words) == 0 || (words[0] != ServeName && words[0] != ServePath) {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(slices.Clip(env), goMaxProcs)
}

// onPath reports whether sh would find prog as an executable file through
// env's PATH (or at prog itself, for a path).
func onPath(prog string, env []string) bool {
	if strings.Contains(prog, "/") {
		return filepath.IsAbs(prog) && isExecutable(prog)
	}
	for _, kv := range env {
		path, ok := strings.CutPrefix(kv, "PATH=")
		if !ok {
			continue
		}
		for _, dir := range filepath.SplitList(path) {
			if dir != "" && filepath.IsAbs(dir) && isExecutable(filepath.Join(dir, prog)) {
				return true
			}
		}
		return false
	}
	return false
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
