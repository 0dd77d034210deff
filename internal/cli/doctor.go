package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quickvibe/quickvibe/internal/app"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/egress"
	"github.com/quickvibe/quickvibe/internal/sandbox/bwrap"
	"github.com/quickvibe/quickvibe/internal/screenshot"
	"github.com/quickvibe/quickvibe/internal/toolbox/embedded"
)

// errDoctorFailed makes `quickvibe doctor` exit 1 after its report.
var errDoctorFailed = errors.New("something the server needs is missing (see FAIL above)")

func (e env) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can run QuickVibe's sandboxes, and with which limits",
		Long: `Check this host: bubblewrap and its version, user namespaces (by starting a
real throw-away sandbox), which sandbox limits the cgroups here can enforce,
the data directory, the egress allowlist and the model configuration.
Exits 1 when something the server needs is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(e.getenv)
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			d := &doctor{out: e.stdout}
			d.run(cmd.Context(), cfg)
			if d.failed {
				return errDoctorFailed
			}
			return nil
		},
	}
}

type doctor struct {
	out    io.Writer
	failed bool
}

func (d *doctor) ok(what, msg string)   { fmt.Fprintf(d.out, "ok    %-22s %s\n", what, msg) }
func (d *doctor) warn(what, msg string) { fmt.Fprintf(d.out, "WARN  %-22s %s\n", what, msg) }
func (d *doctor) fail(what, msg string) {
	d.failed = true
	fmt.Fprintf(d.out, "FAIL  %-22s %s\n", what, msg)
}

func (d *doctor) run(ctx context.Context, cfg config.Config) {
	if cfg.SandboxProvider == "daytona" {
		d.checkDaytona(ctx, cfg)
	} else {
		d.checkLocalSandboxes(ctx, cfg)
	}

	// Data directory.
	if err := checkWritable(cfg.DataDir); err != nil {
		d.fail("data directory", err.Error())
	} else {
		abs, _ := filepath.Abs(cfg.DataDir)
		d.ok("data directory", abs+" is writable")
	}

	// Model.
	if ok, why := cfg.ModelConfigured(); ok {
		d.ok("model", cfg.Model)
	} else {
		d.fail("model", why)
	}

	d.checkBrowser(ctx, cfg)
}

// checkBrowser starts the headless Chromium that runs load pages in to
// catch browser errors (and that takes thumbnails). Without one the server
// works, so a missing browser is a warning.
func (d *doctor) checkBrowser(ctx context.Context, cfg config.Config) {
	path, err := screenshot.FindBrowser()
	switch {
	case !cfg.Agent.BrowserCheck && err != nil:
		d.ok("browser check", "off (QV_BROWSER_CHECK=off); no chromium for thumbnails either")
		return
	case err != nil:
		d.warn("browser check", "no chromium on PATH (apt-get install chromium): runs do not check pages for browser errors, and cards get no thumbnails")
		return
	}
	b := screenshot.NewBrowser(path)
	defer b.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Ready(ctx); err != nil {
		d.warn("browser check", err.Error()+": runs do not check pages for browser errors, and cards get no thumbnails")
		return
	}
	if !cfg.Agent.BrowserCheck {
		d.ok("browser check", "off (QV_BROWSER_CHECK=off); "+path+" starts headless, for thumbnails")
		return
	}
	d.ok("browser check", path+" starts headless: each run loads its app's page to catch browser errors")
}

// checkDaytona checks the Daytona engine's configuration against the API:
// the key is accepted and the snapshot exists.
func (d *doctor) checkDaytona(ctx context.Context, cfg config.Config) {
	dc := cfg.Daytona
	where := dc.APIURL
	if dc.Target != "" {
		where += ", target " + dc.Target
	}
	p, err := app.NewDaytona(cfg, nil, nil)
	if err != nil {
		d.fail("daytona", err.Error())
		return
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		d.fail("daytona", err.Error())
		return
	}
	if dc.Snapshot == "" {
		d.ok("daytona", "API key accepted by "+where)
		d.warn("daytona snapshot", "DAYTONA_SNAPSHOT is not set: sandboxes use the organisation's default snapshot, which must have node, npm and python3")
	} else {
		d.ok("daytona", "API key accepted by "+where+"; snapshot "+dc.Snapshot+" exists")
	}
	if dc.PreviewMode == config.DaytonaPreviewSigned {
		d.ok("daytona previews", "browsers get Daytona's signed preview URLs (QV_DAYTONA_PREVIEW=signed)")
	} else {
		d.ok("daytona previews", "through QuickVibe's preview proxy; Daytona's preview token stays on the server")
	}
}

// checkLocalSandboxes checks what the bubblewrap engine needs on this host.
func (d *doctor) checkLocalSandboxes(ctx context.Context, cfg config.Config) {
	// bubblewrap and its version.
	path, err := exec.LookPath("bwrap")
	if err != nil {
		d.fail("bubblewrap", "bwrap not found on PATH: apt-get install bubblewrap")
	} else {
		out, err := exec.CommandContext(ctx, path, "--version").Output()
		ver := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			d.fail("bubblewrap", fmt.Sprintf("%s --version: %v", path, err))
		case versionBelow(strings.TrimPrefix(ver, "bubblewrap "), 0, 12):
			d.warn("bubblewrap", ver+" at "+path+": works; 0.12 or newer fixes CVE-2026-87766 (mitigated here by binding no mount under a sandbox-writable directory)")
		default:
			d.ok("bubblewrap", ver+" at "+path)
		}
	}

	// User namespaces and the whole launch path: a real throw-away sandbox.
	if path != "" {
		d.probeSandbox(ctx)
	}

	// Limits.
	if os.Geteuid() == 0 {
		d.ok("privileges", "running as root: every sandbox gets its own host uid")
	} else {
		d.ok("privileges", "running as uid "+strconv.Itoa(os.Geteuid())+": sandboxes run as this uid inside a user namespace")
	}
	rep := bwrap.DetectCgroups()
	iso := cfg.Isolation
	limits := []struct {
		ctl, name string
		on        bool
		value     string
	}{
		{"memory", "memory limit", iso.MemoryBytes > 0, strconv.FormatInt(iso.MemoryBytes>>20, 10) + " MiB"},
		{"pids", "process limit", iso.Pids > 0, strconv.Itoa(iso.Pids)},
		{"cpu", "CPU limit", iso.CPU > 0, strconv.FormatFloat(iso.CPU, 'g', -1, 64) + " cores"},
	}
	for _, l := range limits {
		switch {
		case !l.on:
			d.warn(l.name, "switched off by configuration")
		case rep.Enforced[l.ctl] != "":
			d.ok(l.name, l.value+" per sandbox, enforced via "+rep.Enforced[l.ctl])
		default:
			d.warn(l.name, "NOT enforced: "+rep.Missing[l.ctl])
		}
	}
	d.ok("/tmp size", strconv.FormatInt(iso.TmpBytes>>20, 10)+" MiB per sandbox (tmpfs)")
	switch why := bwrap.WorkspaceLimitReason(); {
	case iso.DiskBytes == 0:
		d.warn("workspace disk", "not limited (set QV_SANDBOX_DISK): workspaces share the data directory's file system")
	case why != "":
		d.warn("workspace disk", "NOT enforced: "+why)
	default:
		d.ok("workspace disk", strconv.FormatInt(iso.DiskBytes>>20, 10)+" MiB per sandbox, a loop-mounted ext4 file system each")
	}
	if _, err := bwrap.Filter(); err != nil {
		d.fail("seccomp", err.Error())
	} else {
		d.ok("seccomp", "filter compiles for this architecture")
	}

	// Egress.
	if _, err := egress.New(egress.Config{Allow: iso.EgressAllow}); err != nil {
		d.fail("egress allowlist", err.Error())
	} else if len(iso.EgressAllow) == 0 {
		d.ok("egress allowlist", "empty: sandboxes have no network at all")
	} else {
		d.ok("egress allowlist", strings.Join(iso.EgressAllow, ", "))
	}
}

// probeSandbox starts the engine on a temporary state dir; its readiness
// probe runs a real sandbox through the same launch path as the server.
func (d *doctor) probeSandbox(ctx context.Context) {
	dir, err := os.MkdirTemp("", "quickvibe-doctor-")
	if err != nil {
		d.fail("sandbox", "temporary directory: "+err.Error())
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tb := embedded.Toolbox()
	if len(tb) > 0 {
		d.ok("sandbox toolbox", fmt.Sprintf("embedded static executable (%.1f MB)", float64(len(tb))/1e6))
	} else {
		d.warn("sandbox toolbox", "not embedded, so sandboxes run this whole binary as their toolbox and start slower: build with make build")
	}
	p, err := bwrap.New(ctx, bwrap.Config{Dir: dir, ToolboxExecutable: tb})
	if err != nil {
		d.fail("sandbox", err.Error())
		return
	}
	defer p.Close()
	if err := p.Ready(ctx); err != nil {
		d.fail("sandbox", err.Error())
		return
	}
	d.ok("sandbox", "user, pid, net, ipc and uts namespaces work (a test sandbox ran)")
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".doctor-")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// versionBelow reports whether a dotted version is below major.minor; an
// unparsable one counts as below.
func versionBelow(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return slices.Compare([]int{ma, mi}, []int{major, minor}) < 0
}
