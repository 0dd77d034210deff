// Package toolbox is the small daemon that runs inside every local sandbox,
// and the host-side client that talks to it.
//
// The toolbox is dispatched by argv[0]: the sandbox engine binds an
// executable into the sandbox as /opt/quickvibe/bin/qv-toolbox (plus a
// qv-serve symlink). That executable is cmd/qv-toolbox, a small static
// build the server embeds (internal/toolbox/embedded) and so always
// matches, or, in a server built without it, the server binary itself.
// Every main (and every TestMain that runs sandboxes) calls
// DispatchIfToolbox first.
//
// The daemon speaks HTTP/1.1 on a listening Unix socket that the host
// created and passed in as an inherited fd; the host never dials a path the
// sandbox can write to.
package toolbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// Paths inside the sandbox.
const (
	BinDir       = "/opt/quickvibe/bin"
	ToolboxPath  = BinDir + "/qv-toolbox"
	ServePath    = BinDir + "/qv-serve"
	WorkspaceDir = "/workspace"
)

// Names the binary answers to when dispatched by argv[0].
const (
	ToolboxName = "qv-toolbox"
	ServeName   = "qv-serve"
)

// VersionLine is what `qv-toolbox version` prints.
const VersionLine = "qv-toolbox ok"

// Sentinel errors returned by the client.
var (
	// ErrPortNotAnswering means nothing accepted a connection on the port
	// inside the sandbox (yet). Callers poll until it answers.
	ErrPortNotAnswering = errors.New("toolbox: port not answering")
	// ErrProcessNotFound means no background process has that name.
	// It wraps sandbox.ErrNoProcess for callers that know only the engine
	// interface.
	ErrProcessNotFound = fmt.Errorf("toolbox: %w", sandbox.ErrNoProcess)
)

// Env is the complete environment of every process the toolbox starts.
// Nothing of the toolbox's own environment is passed on.
func Env() []string {
	return append([]string{
		"PATH=" + BinDir + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + WorkspaceDir,
		"USER=sandbox",
		"LANG=C.UTF-8",
		"TERM=xterm-256color",
	}, proxyEnv()...)
}

// DaemonEnv is the environment the engine starts the toolbox daemon
// with: Env without what only terminals need, plus the daemon's runtime
// settings, which the commands it starts do not inherit (they get Env).
func DaemonEnv() []string {
	env := slices.DeleteFunc(Env(), func(kv string) bool { return strings.HasPrefix(kv, "TERM=") })
	return append(env, goMaxProcs)
}

// DispatchIfToolbox runs the toolbox and exits when the binary was started
// as qv-toolbox or qv-serve; otherwise it returns and the caller carries on
// as the normal program.
func DispatchIfToolbox() {
	switch filepath.Base(os.Args[0]) {
	case ToolboxName:
		os.Exit(toolboxMain(os.Args[1:]))
	case ServeName:
		os.Exit(serveStaticMain(os.Args[1:]))
	}
}

func toolboxMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: qv-toolbox serve --listen-fd N | qv-toolbox version")
		return 2
	}
	switch args[0] {
	case "serve":
		return serveMain(args[1:])
	case "version":
		// Lets the engine's readiness probe check that the binary it binds
		// into sandboxes really dispatches to the toolbox.
		fmt.Println(VersionLine)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "qv-toolbox: unknown command %q\n", args[0])
		return 2
	}
}
