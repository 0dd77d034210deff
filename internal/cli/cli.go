// Package cli is QuickVibe's command line: the server (serve) and client
// commands that talk to a running server over its API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quickvibe/quickvibe/internal/app"
	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/store"
)

// env is the process environment and standard streams, passed in so tests
// can run commands without touching the real ones.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "quickvibe",
		Short:         "QuickVibe: describe an app, watch an AI agent build it in a sandbox",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       app.Version,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(e.serveCmd(), e.usersCmd(), e.loginCmd(), e.newCmd(), e.projectsCmd(), e.doctorCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "quickvibe:", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (e env) serveCmd() *cobra.Command {
	var addr, dataDir string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the QuickVibe server",
		Long: `Run the QuickVibe server. Configuration comes from the environment
(QV_ADDR, QV_DATA_DIR, QV_PREVIEW_DOMAIN, ANTHROPIC_API_KEY, …; see the README);
flags override it.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(e.overlay(map[string]string{"QV_ADDR": addr, "QV_DATA_DIR": dataDir}))
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			logger := newLogger(cfg, e.stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			a, err := app.New(ctx, cfg, logger, app.Options{})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				a.Close()
				return fmt.Errorf("listen on %s (QV_ADDR): %w", cfg.Addr, err)
			}
			return a.Serve(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default from QV_ADDR, else "+config.DefaultAddr+")")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory (default from QV_DATA_DIR, else ./data)")
	return cmd
}

// overlay returns a getenv where non-empty flag values win.
func (e env) overlay(flags map[string]string) func(string) string {
	return func(k string) string {
		if v := flags[k]; v != "" {
			return v
		}
		return e.getenv(k)
	}
}

func (e env) usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users (on this machine's data directory)"}
	var email string
	var passwordStdin, admin bool
	add := &cobra.Command{
		Use:   "add --email EMAIL --password-stdin [--admin]",
		Short: "Create a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return errors.New("pass the password on standard input with --password-stdin (it is never taken as an argument)")
			}
			password, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			cfg, err := config.Load(e.getenv)
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			svc, err := auth.NewService(st, cfg.SessionTTL)
			if err != nil {
				return err
			}
			u, err := svc.AddUser(cmd.Context(), email, password, admin)
			if err != nil {
				return err
			}
			role := "member"
			if u.IsAdmin {
				role = "admin"
			}
			fmt.Fprintf(e.stdout, "created %s %s (id %s)\n", role, u.Email, u.ID)
			return nil
		},
	}
	add.Flags().StringVar(&email, "email", "", "the user's email (required)")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	add.Flags().BoolVar(&admin, "admin", false, "make the user an admin")
	_ = add.MarkFlagRequired("email")
	cmd.AddCommand(add)
	return cmd
}

// readPassword takes the first line of r.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}
