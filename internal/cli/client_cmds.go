package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/quickvibe/quickvibe/internal/client"
)

const defaultURL = "http://localhost:8080"

// credentials is what `quickvibe login` keeps for later commands.
type credentials struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

func (e env) credentialsPath() (string, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := e.getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set; set QV_TOKEN instead")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "quickvibe", "credentials.json"), nil
}

// client builds an API client from --url/QV_URL and QV_TOKEN, else the
// token saved by login.
func (e env) client(url string) (*client.Client, error) {
	if url == "" {
		url = e.getenv("QV_URL")
	}
	token := e.getenv("QV_TOKEN")
	if token == "" {
		path, err := e.credentialsPath()
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("not signed in: run `quickvibe login --email you@example.com --password-stdin`, or set QV_TOKEN to an API token")
		}
		if err != nil {
			return nil, fmt.Errorf("read saved credentials: %w", err)
		}
		var c credentials
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("saved credentials in %s are damaged: run quickvibe login again", path)
		}
		token = c.Token
		if url == "" {
			url = c.URL
		}
	}
	if url == "" {
		url = defaultURL
	}
	return client.New(url, token), nil
}

func (e env) loginCmd() *cobra.Command {
	var url, email string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --email EMAIL --password-stdin [--url URL]",
		Short: "Sign in to a server and save an API token for later commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return errors.New("pass the password on standard input with --password-stdin")
			}
			password, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			if url == "" {
				url = e.getenv("QV_URL")
			}
			if url == "" {
				url = defaultURL
			}
			c := client.New(url, "")
			if _, err := c.Login(cmd.Context(), email, password); err != nil {
				return err
			}
			host, _ := os.Hostname()
			token, err := c.CreateToken(cmd.Context(), "cli on "+host)
			if err != nil {
				return err
			}
			path, err := e.credentialsPath()
			if err != nil {
				return err
			}
			if err := writePrivateFile(path, credentials{URL: url, Token: token}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "signed in to %s as %s; token saved in %s\n", url, email, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "server URL (default QV_URL, else "+defaultURL+")")
	cmd.Flags().StringVar(&email, "email", "", "your email (required)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// writePrivateFile writes v as JSON readable only by the user, atomically.
func writePrivateFile(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (e env) projectsCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List your projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(url)
			if err != nil {
				return err
			}
			ps, err := c.Projects(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintf(e.stdout, "%s  %-8s  %-8s  %s  %s\n", p.ID, p.Type, p.Status, p.Name, p.PreviewURL)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "server URL (default QV_URL, else the saved one)")
	return cmd
}

func (e env) newCmd() *cobra.Command {
	var url, typ, name string
	cmd := &cobra.Command{
		Use:   `new [--type website] [--name NAME] "PROMPT"`,
		Short: "Create a project from a prompt and follow the build to its preview",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prompt := strings.TrimSpace(args[0])
			if prompt == "" {
				return errors.New("the prompt is empty: describe the app to build")
			}
			c, err := e.client(url)
			if err != nil {
				return err
			}
			if name == "" {
				name = projectName(prompt)
			}
			p, err := c.CreateProject(cmd.Context(), name, typ)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "project %s (%s)\n", p.ID, p.Name)
			pr := &progressPrinter{w: e.stdout}
			if _, err := c.PromptStream(cmd.Context(), p.ID, prompt, pr.event); err != nil {
				return err
			}
			if err := pr.result(); err != nil {
				return err
			}
			// Previews are private: hand out a signed link that opens it.
			signed, err := c.PreviewURL(cmd.Context(), p.ID, 0)
			if err != nil {
				return fmt.Errorf("the app is built, but no preview link could be made: %w", err)
			}
			fmt.Fprintf(e.stdout, "Open it (link valid until %s): %s\n", signed.ExpiresAt.Local().Format("15:04"), signed.URL)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "server URL (default QV_URL, else the saved one)")
	cmd.Flags().StringVar(&typ, "type", "website", "project type")
	cmd.Flags().StringVar(&name, "name", "", "project name (default: from the prompt)")
	return cmd
}

// projectName makes a short name from a prompt.
func projectName(prompt string) string {
	const max = 40
	if utf8.RuneCountInString(prompt) <= max {
		return prompt
	}
	r := []rune(prompt)
	return strings.TrimSpace(string(r[:max])) + "…"
}

// progressPrinter prints a run's events as lines a person can follow.
type progressPrinter struct {
	w          io.Writer
	inText     bool // in the middle of streamed assistant text
	previewURL string
	failure    error
	done       bool
}

func (p *progressPrinter) line(format string, args ...any) {
	if p.inText {
		fmt.Fprintln(p.w)
		p.inText = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progressPrinter) event(ev client.Event) error {
	switch ev.Type {
	case "progress":
		var d struct{ Status, Message, PreviewURL string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		p.line("» %-12s %s", d.Status, d.Message)
	case "message":
		var d struct {
			Type, Content string
			Delta         bool
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		if d.Type == "assistant" && d.Delta {
			fmt.Fprint(p.w, d.Content)
			p.inText = true
		}
	case "tool":
		var d struct {
			Action, File, Command, Error string
			LinesAdded, LinesRemoved     int
			ExitCode                     *int
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		switch {
		case d.Error != "":
			p.line("  ✗ %s %s%s: %s", d.Action, d.File, d.Command, d.Error)
		case d.Command != "":
			code := 0
			if d.ExitCode != nil {
				code = *d.ExitCode
			}
			p.line("  $ %s (exit %d)", d.Command, code)
		default:
			p.line("  ✎ %s %s (+%d −%d)", d.Action, d.File, d.LinesAdded, d.LinesRemoved)
		}
	case "complete":
		var d struct{ PreviewURL, Message string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		p.previewURL, p.done = d.PreviewURL, true
		p.line("✔ %s", d.Message)
		p.line("Preview: %s", d.PreviewURL)
	case "error":
		var d struct{ Message, Code string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		p.done = true
		p.failure = fmt.Errorf("the run failed (%s): %s", d.Code, d.Message)
	}
	return nil
}

func (p *progressPrinter) result() error {
	if p.inText {
		fmt.Fprintln(p.w)
	}
	if p.failure != nil {
		return p.failure
	}
	if !p.done {
		return errors.New("the event stream ended before the run finished; follow it again with the run id")
	}
	return nil
}
