// Package embedded carries the toolbox as its own small executable inside
// the server binary, so that the server stays one file to ship.
//
// `make toolbox` (which make build, make run and make test call) builds
// cmd/qv-toolbox statically into dist/qv-toolbox, which git ignores. A
// server built without it (a plain go build) binds its own, much larger
// binary into sandboxes instead: that works the same, but every sandbox
// starts slower and uses more memory.
package embedded

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// name is the executable's file in dist.
const name = "dist/qv-toolbox"

// Toolbox returns the embedded toolbox executable, or nil when the binary
// was built without one.
func Toolbox() []byte {
	b, err := fs.ReadFile(dist, name)
	if err != nil {
		return nil
	}
	return b
}
