// Package config loads QuickVibe's one Config value from the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is loaded once at start-up and passed down; nothing reads the
// environment after that.
type Config struct {
	Addr          string // QV_ADDR
	DataDir       string // QV_DATA_DIR
	DatabaseURL   string // QV_DATABASE_URL: a SQLite file path or postgres://…
	PublicURL     *url.URL
	PreviewDomain string // QV_PREVIEW_DOMAIN
	LogFormat     string // QV_LOG_FORMAT: text or json
	LogLevel      string // QV_LOG_LEVEL

	SandboxProvider string        // QV_SANDBOX_PROVIDER
	ExecTimeout     time.Duration // QV_EXEC_TIMEOUT
	RunTimeout      time.Duration // QV_RUN_TIMEOUT
	// SandboxIdleTimeout stops a sandbox after this long without activity.
	SandboxIdleTimeout time.Duration // QV_SANDBOX_IDLE_TIMEOUT
	SessionTTL         time.Duration // QV_SESSION_TTL

	ModelProvider    string // QV_MODEL_PROVIDER
	Model            string // QV_MODEL
	AnthropicAPIKey  string // ANTHROPIC_API_KEY
	AnthropicBaseURL string // ANTHROPIC_BASE_URL

	Security Security
	// Isolation: sandbox limits and egress allowlist (isolation.go).
	Isolation Isolation
	// Agent: providers, retries, fix loop, context and budget (agent.go).
	Agent Agent
	// Daytona: the remote sandbox engine's settings (daytona.go).
	Daytona Daytona
}

// Security holds the multi-user settings (issue 6).
type Security struct {
	// Secret keys the preview-token HMAC (QV_SECRET); empty means a secret
	// generated once and kept in the data directory.
	Secret               string
	PreviewTokenTTL      time.Duration // QV_PREVIEW_TOKEN_TTL
	RatePromptsPerMinute int           // QV_RATE_PROMPTS_PER_MINUTE
	MaxRunsPerUser       int           // QV_MAX_RUNS_PER_USER
	MaxSandboxesPerUser  int           // QV_MAX_SANDBOXES_PER_USER
	OpenSignup           bool          // QV_OPEN_SIGNUP
	OIDCIssuer           string        // QV_OIDC_ISSUER
	OIDCClientID         string        // QV_OIDC_CLIENT_ID
	OIDCClientSecret     string        // QV_OIDC_CLIENT_SECRET
}

// OIDCEnabled reports whether single sign-on is configured.
func (s Security) OIDCEnabled() bool { return s.OIDCIssuer != "" }

// Defaults that other packages and the README refer to.
const (
	DefaultAddr          = "127.0.0.1:8080"
	DefaultPreviewDomain = "preview.localhost"
	DefaultModel         = "claude-sonnet-4-5"
)

// Load reads the configuration from getenv (os.Getenv in production) and
// validates it.
func Load(getenv func(string) string) (Config, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	duration := func(key string, def time.Duration) time.Duration {
		v := getenv(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 90s or 30m", key, v))
			return def
		}
		return d
	}

	c := Config{
		Addr:               env("QV_ADDR", DefaultAddr),
		DataDir:            env("QV_DATA_DIR", "data"),
		PreviewDomain:      strings.ToLower(strings.Trim(env("QV_PREVIEW_DOMAIN", DefaultPreviewDomain), ".")),
		LogFormat:          env("QV_LOG_FORMAT", "text"),
		LogLevel:           env("QV_LOG_LEVEL", "info"),
		SandboxProvider:    env("QV_SANDBOX_PROVIDER", "bwrap"),
		ExecTimeout:        duration("QV_EXEC_TIMEOUT", 2*time.Minute),
		RunTimeout:         duration("QV_RUN_TIMEOUT", 30*time.Minute),
		SandboxIdleTimeout: duration("QV_SANDBOX_IDLE_TIMEOUT", 30*time.Minute),
		SessionTTL:         duration("QV_SESSION_TTL", 30*24*time.Hour),
		ModelProvider:      env("QV_MODEL_PROVIDER", "anthropic"),
		Model:              env("QV_MODEL", DefaultModel),
		AnthropicAPIKey:    strings.TrimSpace(getenv("ANTHROPIC_API_KEY")),
		AnthropicBaseURL:   strings.TrimSpace(getenv("ANTHROPIC_BASE_URL")),
	}
	c.DatabaseURL = env("QV_DATABASE_URL", filepath.Join(c.DataDir, "quickvibe.db"))
	c.Security = loadSecurity(getenv, duration, &errs)
	c.Agent = loadAgent(getenv, duration, &errs)
	c.Daytona = loadDaytona(getenv, &errs)
	if c.ModelProvider == "openai" && strings.TrimSpace(getenv("QV_MODEL")) == "" {
		c.Model = "" // no default: an OpenAI-compatible server has its own model ids
	}
	iso, isoErrs := loadIsolation(getenv)
	c.Isolation, errs = iso, append(errs, isoErrs...)

	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("QV_ADDR=%q: want host:port, e.g. %s", c.Addr, DefaultAddr))
		port = "8080"
	}
	public := env("QV_PUBLIC_URL", "http://localhost:"+port)
	u, err := url.Parse(public)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("QV_PUBLIC_URL=%q: want an http(s) URL such as http://localhost:8080", public))
		u, _ = url.Parse("http://localhost:" + port)
	}
	c.PublicURL = u

	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("QV_LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("QV_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.SandboxProvider {
	case "bwrap":
	case "daytona":
		if c.Daytona.APIKey == "" {
			errs = append(errs, errors.New("QV_SANDBOX_PROVIDER=daytona needs DAYTONA_API_KEY (Daytona dashboard → API keys)"))
		}
	default:
		errs = append(errs, fmt.Errorf("QV_SANDBOX_PROVIDER=%q: want bwrap (local sandboxes) or daytona", c.SandboxProvider))
	}
	if c.ModelProvider != "anthropic" && c.ModelProvider != "openai" {
		errs = append(errs, fmt.Errorf("QV_MODEL_PROVIDER=%q: want anthropic or openai (any OpenAI-compatible endpoint)", c.ModelProvider))
	}
	if strings.ContainsAny(c.PreviewDomain, "/: ") || c.PreviewDomain == "" {
		errs = append(errs, fmt.Errorf("QV_PREVIEW_DOMAIN=%q: want a bare domain such as %s", c.PreviewDomain, DefaultPreviewDomain))
	}
	return c, errors.Join(errs...)
}

// ModelConfigured reports whether a model can be called, and if not, what to set.
func (c Config) ModelConfigured() (bool, string) {
	if c.ModelProvider == "openai" {
		switch {
		case c.Agent.OpenAIBaseURL == "":
			return false, "no model is configured: QV_MODEL_PROVIDER=openai needs OPENAI_BASE_URL (e.g. http://localhost:11434/v1) and QV_MODEL, and OPENAI_API_KEY if the server wants one; then restart the server"
		case c.Model == "":
			return false, "no model is configured: QV_MODEL_PROVIDER=openai needs QV_MODEL, the model id the server knows; then restart the server"
		}
		return true, ""
	}
	if c.AnthropicAPIKey == "" {
		return false, "no model is configured: set ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL, QV_MODEL) and restart the server"
	}
	return true, ""
}

// PreviewURL is where the browser reaches a sandbox's port through the
// preview proxy: {port}-{sandboxId}.{previewDomain}, on the public URL's
// scheme and port.
func (c Config) PreviewURL(sandboxID string, port int) string {
	host := fmt.Sprintf("%d-%s.%s", port, sandboxID, c.PreviewDomain)
	if p := c.PublicURL.Port(); p != "" {
		host = net.JoinHostPort(host, p)
	}
	return (&url.URL{Scheme: c.PublicURL.Scheme, Host: host, Path: "/"}).String()
}

// ParsePreviewHost is the inverse of PreviewURL's host part. It accepts a
// Host header (port optional) and reports whether it names a preview.
func (c Config) ParsePreviewHost(host string) (sandboxID string, port int, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	label, found := strings.CutSuffix(host, "."+c.PreviewDomain)
	if !found || strings.Contains(label, ".") {
		return "", 0, false
	}
	portText, id, found := strings.Cut(label, "-")
	if !found || id == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, false
	}
	return id, port, true
}
