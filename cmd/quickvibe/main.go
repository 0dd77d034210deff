// Command quickvibe is the QuickVibe server and its command-line client.
package main

import (
	"context"
	"os"

	"github.com/quickvibe/quickvibe/internal/cli"
	"github.com/quickvibe/quickvibe/internal/toolbox"
)

func main() {
	// Inside a sandbox this same binary is the toolbox daemon.
	toolbox.DispatchIfToolbox()
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
