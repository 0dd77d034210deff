// Command qv-toolbox is the daemon inside every local sandbox, built on its
// own as a small static executable that the server embeds (make toolbox):
// it starts several times faster than the whole server binary.
package main

import (
	"fmt"
	"os"

	"github.com/quickvibe/quickvibe/internal/toolbox"
)

func main() {
	toolbox.DispatchIfToolbox()
	fmt.Fprintf(os.Stderr, "%s: run it as %s or %s (the sandbox engine binds it under those names)\n", os.Args[0], toolbox.ToolboxName, toolbox.ServeName)
	os.Exit(2)
}
