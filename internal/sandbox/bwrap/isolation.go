package bwrap

import (
	"fmt"
	"maps"
	"slices"

	"github.com/quickvibe/quickvibe/internal/egress"
)

// isolation is the part of the Provider that limits and confines
// sandboxes: cgroups, the seccomp filter and the egress proxy.
type isolation struct {
	limits  Limits
	cgroups *cgroups
	// seccomp is the compiled filter (see seccomp.go).
	seccomp []byte
	egress  *egress.Proxy
	// diskQuota: workspaces are size-limited file systems (diskquota.go).
	diskQuota bool
}

// initIsolation sets up limits, seccomp and egress, and says at start-up
// which limits this host cannot enforce.
func (p *Provider) initIsolation(cfg Config) error {
	p.limits = DefaultLimits
	if cfg.Limits != nil {
		p.limits = *cfg.Limits
	}
	if p.limits.TmpBytes <= 0 {
		p.limits.TmpBytes = defaultTmpSize
	}
	filter, err := Filter()
	if err != nil {
		return err
	}
	p.seccomp = filter
	p.egress = cfg.Egress
	if p.egress == nil {
		// Nothing allowed: every request is refused (and logged).
		p.egress, err = egress.New(egress.Config{Logger: p.log})
		if err != nil {
			return err
		}
	}
	p.cgroups = newCgroups(p.asRoot)
	rep := p.cgroups.report()
	wanted := map[string]bool{ctlMemory: p.limits.MemoryBytes > 0, ctlPids: p.limits.Pids > 0, ctlCPU: p.limits.CPU > 0}
	for _, ctl := range slices.Sorted(maps.Keys(rep.Missing)) {
		if wanted[ctl] {
			p.log.Warn("sandbox limit NOT enforced on this host", "limit", ctl, "reason", rep.Missing[ctl])
		}
	}
	for ctl, where := range rep.Enforced {
		if wanted[ctl] {
			p.log.Debug("sandbox limit enforced", "limit", ctl, "via", where)
		}
	}
	if p.cgroups.v2 != "" {
		// Where to look, e.g. in a cgroup delegated to a server not
		// running as root (cgroup.go).
		p.log.Info("sandbox cgroups", "parent", p.cgroups.v2)
	}
	// Leftovers of a server that was killed: their processes died with it
	// (parent-death signal), their cgroups did not.
	ids, err := p.listIDs()
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	if err := p.cgroups.cleanup(ids, func(string) bool { return false }); err != nil {
		p.log.Warn("remove leftover sandbox cgroups", "err", err)
	}
	p.cgroups.sweepStale()
	if p.limits.DiskBytes > 0 {
		if why := diskQuotaReason(p.asRoot); why != "" {
			p.log.Warn("sandbox limit NOT enforced on this host", "limit", "workspace disk", "reason", why)
		} else {
			p.diskQuota = true
			p.mountWorkspaces()
		}
	}
	p.log.Info("sandbox limits", "memory", p.limits.MemoryBytes, "pids", p.limits.Pids, "cpu", p.limits.CPU, "tmp", p.limits.TmpBytes, "disk", p.limits.DiskBytes, "disk_enforced", p.diskQuota)
	return nil
}
