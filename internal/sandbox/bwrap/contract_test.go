package bwrap

import (
	"testing"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/sandboxtest"
)

// TestContract runs the engine contract shared with every other engine.
func TestContract(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Provider { return newProvider(t, Config{}) })
}
