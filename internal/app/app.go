// Package app wires QuickVibe's parts into one server. The command line and
// the end-to-end tests boot the same App.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/egress"
	"github.com/quickvibe/quickvibe/internal/events"
	"github.com/quickvibe/quickvibe/internal/httpapi"
	"github.com/quickvibe/quickvibe/internal/preview"
	"github.com/quickvibe/quickvibe/internal/run"
	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/lifecycle"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/store"
	"github.com/quickvibe/quickvibe/internal/version"
	"github.com/quickvibe/quickvibe/internal/web"
)

// Version of this build.
const Version = "0.1.0-dev"

// App is a running QuickVibe server's parts.
type App struct {
	cfg    config.Config
	logger *slog.Logger
	Store  *store.Store
	Auth   *auth.Service
	// sandboxes is the engine behind the lifecycle manager, which keeps
	// every sandbox's state in the store and counts activity.
	sandboxes sandbox.Provider
	lifecycle *lifecycle.Manager
	runs      *run.Manager
	api       *httpapi.Server
	// browser is the headless Chromium of thumbnails and the runs' page
	// check, started at first use; nil when none is installed.
	browser *screenshot.Browser
}

// Options adjust an App for tests.
type Options struct {
	// Heartbeat overrides the SSE heartbeat interval.
	Heartbeat time.Duration
	// Now overrides the clock of rate limits and the sign-in throttle.
	Now func() time.Time
	// DaytonaHTTPClient is the Daytona engine's HTTP client (a test
	// double's client, which reaches its preview hosts).
	DaytonaHTTPClient *http.Client
}

// New opens the store and the sandbox engine and builds the HTTP handler.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (_ *App, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	a := &App{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			a.closeParts()
		}
	}()

	a.Store, err = store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	a.Auth, err = auth.NewService(a.Store, cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	egressProxy, err := egress.New(egress.Config{Allow: cfg.Isolation.EgressAllow, PermitAddrs: cfg.Isolation.EgressPermit, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("QV_EGRESS_ALLOW: %w", err)
	}
	engine, err := newEngine(ctx, cfg, logger, egressProxy, opts.DaytonaHTTPClient)
	if err != nil {
		return nil, fmt.Errorf("start sandbox engine: %w", err)
	}
	a.lifecycle = lifecycle.New(engine, a.Store, lifecycle.Config{
		IdleTimeout: cfg.SandboxIdleTimeout,
		Logger:      logger.With("component", "lifecycle"),
	})
	a.sandboxes = a.lifecycle
	// Sandboxes left by a crash: the engine's view wins, the store follows.
	if err := a.lifecycle.Recover(ctx); err != nil {
		return nil, err
	}
	a.lifecycle.Run()
	if err := a.sandboxes.Ready(ctx); err != nil {
		logger.Warn("sandboxes are not available; runs will fail until this is fixed", "engine", a.sandboxes.Name(), "reason", err)
	}

	versions, err := version.New(version.Config{
		Dir:       filepath.Join(cfg.DataDir, "projects"),
		Sandboxes: a.sandboxes,
		Logger:    logger.With("component", "version"),
	})
	if err != nil {
		return nil, err
	}

	var runAgent run.Agent
	if ok, why := cfg.ModelConfigured(); ok {
		model, err := newModel(cfg)
		if err != nil {
			return nil, fmt.Errorf("set up the model: %w", err)
		}
		runAgent = agent.New(model, agent.Options{CommandTimeout: cfg.ExecTimeout, ContextTokens: cfg.Agent.ContextTokens})
		logger.Info("model configured", "provider", cfg.ModelProvider, "model", cfg.Model)
	} else {
		logger.Warn(why)
	}

	log := events.NewLog(a.Store)
	if path, err := screenshot.FindBrowser(); err == nil {
		a.browser = screenshot.NewBrowser(path)
	} else {
		logger.Warn("no headless browser: runs do not check pages for browser errors and project cards get no thumbnails", "reason", err)
	}
	var checkBrowser *screenshot.Browser
	if cfg.Agent.BrowserCheck {
		checkBrowser = a.browser
	}
	thumbnails, err := screenshot.NewThumbnails(filepath.Join(cfg.DataDir, "thumbnails"), a.sandboxes.DialPort, a.browser, logger.With("component", "screenshot"))
	if err != nil {
		return nil, err
	}
	var previewProxy *preview.Proxy
	a.runs = run.NewManager(a.Store, log, a.sandboxes, runAgent, run.Config{
		Timeout:               cfg.RunTimeout,
		MaxFixAttempts:        fixAttempts(cfg.Agent.MaxFixAttempts),
		MaxRunCostUSD:         cfg.Agent.MaxRunCostUSD,
		MaxUserMonthlyCostUSD: cfg.Agent.MaxUserMonthlyCostUSD,
		Prices:                cfg.Agent.Prices,
		// The preview proxy is built below; runs start only once New returns.
		BrowserErrors: func(sandboxID string, since time.Time) []string {
			return previewProxy.BrowserErrors(sandboxID, since)
		},
		Browser:      checkBrowser,
		PreviewURL:   cfg.PreviewURL,
		Versions:     versions,
		AfterSuccess: screenshotAfterRun(thumbnails),
		EgressRefusals: func(sandboxID string, fn func(string)) func() {
			return egressProxy.Subscribe(sandboxID, func(r egress.Refusal) { fn("egress refused: " + r.Target + ": " + r.Reason) })
		},
	}, logger.With("component", "run"))
	if err := a.runs.Recover(ctx); err != nil {
		return nil, err
	}

	sec, err := newSecurity(cfg, a.Auth)
	if err != nil {
		return nil, err
	}
	previewProxy = preview.New(a.sandboxes, sec.previewAccess, logger.With("component", "preview"))
	a.api = httpapi.New(httpapi.Deps{
		Config:     cfg,
		Version:    Version,
		Store:      a.Store,
		Auth:       a.Auth,
		Runs:       a.runs,
		Events:     log,
		Sandboxes:  a.sandboxes,
		Lifecycle:  a.lifecycle,
		Versions:   versions,
		Preview:    previewProxy,
		Logger:     logger.With("component", "http"),
		Heartbeat:  opts.Heartbeat,
		WebUI:      web.Handler(),
		Thumbnails: thumbnails,

		PreviewSigner: sec.previewAccess.Signer,
		DirectPreview: directPreview(cfg, engine),
		OIDC:          sec.oidc,
		Now:           opts.Now,
	})
	return a, nil
}

// Handler is the whole HTTP surface: app, API and preview hosts.
func (a *App) Handler() http.Handler { return a.api }

// Sandboxes is the sandbox engine, for tests that act behind the API's back
// (deleting a sandbox as an operator or a reaper would).
func (a *App) Sandboxes() sandbox.Provider { return a.sandboxes }

// Routes lists every API route and who may call it.
func (a *App) Routes() []httpapi.Route { return a.api.Routes() }

// Serve answers HTTP on ln until ctx ends, then shuts down in order: runs
// write their terminal events, streams close, sandboxes stop, the store closes.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("listening", "addr", ln.Addr().String(), "url", a.cfg.PublicURL.String(), "preview_domain", a.cfg.PreviewDomain)

	select {
	case err := <-errc:
		a.Close()
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.runs.Shutdown(shutdownCtx); err != nil {
		a.logger.Error("stop runs", "err", err)
	}
	cancelBase() // ends event streams, which never go idle by themselves
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	a.closeParts()
	return err
}

// Close stops runs and releases everything without serving.
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if a.runs != nil {
		if err := a.runs.Shutdown(ctx); err != nil {
			a.logger.Error("stop runs", "err", err)
		}
	}
	a.closeParts()
}

func (a *App) closeParts() {
	if a.browser != nil {
		if err := a.browser.Close(); err != nil {
			a.logger.Error("stop browser", "err", err)
		}
		a.browser = nil
	}
	if a.sandboxes != nil {
		if err := a.sandboxes.Close(); err != nil {
			a.logger.Error("stop sandboxes", "err", err)
		}
		a.sandboxes = nil
	}
	if a.Store != nil {
		if err := a.Store.Close(); err != nil {
			a.logger.Error("close store", "err", err)
		}
		a.Store = nil
	}
}
