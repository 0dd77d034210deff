package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/egress"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
	"github.com/quickvibe/quickvibe/internal/sandbox/daytona"
	"github.com/quickvibe/quickvibe/internal/toolbox/embedded"
)

// newEngine starts the sandbox engine the configuration names.
func newEngine(ctx context.Context, cfg config.Config, logger *slog.Logger, egressProxy *egress.Proxy, daytonaClient *http.Client) (sandbox.Provider, error) {
	logger = logger.With("component", "sandbox")
	switch cfg.SandboxProvider {
	case "daytona":
		if len(cfg.Isolation.EgressAllow) > 0 {
			logger.Info("QV_EGRESS_ALLOW does not apply to Daytona sandboxes: their network follows the Daytona organisation's limits")
		}
		return NewDaytona(cfg, daytonaClient, logger)
	default:
		iso := cfg.Isolation
		return bwrap.New(ctx, bwrap.Config{
			Dir:               filepath.Join(cfg.DataDir, "sandboxes"),
			ToolboxExecutable: embedded.Toolbox(),
			ExecTimeout:       cfg.ExecTimeout,
			Logger:            logger,
			Limits:            &bwrap.Limits{MemoryBytes: iso.MemoryBytes, Pids: iso.Pids, CPU: iso.CPU, TmpBytes: iso.TmpBytes, DiskBytes: iso.DiskBytes},
			Egress:            egressProxy,
			WarmPool:          iso.WarmPool,
		})
	}
}

// NewDaytona makes the Daytona engine from the configuration; client nil
// means the engine's own HTTP client. quickvibe doctor uses it too.
func NewDaytona(cfg config.Config, client *http.Client, logger *slog.Logger) (*daytona.Provider, error) {
	d := cfg.Daytona
	p, err := daytona.New(daytona.Config{
		APIURL: d.APIURL, APIKey: d.APIKey, Target: d.Target, Snapshot: d.Snapshot,
		AutoStop: d.AutoStop, AutoArchive: d.AutoArchive, AutoDelete: d.AutoDelete,
		ExecTimeout: cfg.ExecTimeout,
		HTTPClient:  client,
		Logger:      logger,
	})
	if err != nil {
		return nil, fmt.Errorf("daytona: %w", err)
	}
	return p, nil
}

// directPreview is how previews are handed to browsers in Daytona's signed
// mode; nil means through QuickVibe's own preview proxy.
func directPreview(cfg config.Config, engine sandbox.Provider) func(context.Context, string, int, time.Duration) (string, error) {
	d, ok := engine.(*daytona.Provider)
	if !ok || cfg.Daytona.PreviewMode != config.DaytonaPreviewSigned {
		return nil
	}
	return d.SignedPreviewURL
}
