package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Isolation holds the per-sandbox limits and the egress allowlist
// (issue 3). Zero sizes mean "no limit".
type Isolation struct {
	MemoryBytes int64    // QV_SANDBOX_MEMORY (default 1GiB)
	Pids        int      // QV_SANDBOX_PIDS (default 256)
	CPU         float64  // QV_SANDBOX_CPU, cores (default 1.0)
	DiskBytes   int64    // QV_SANDBOX_DISK, workspace size (default 0: no limit)
	TmpBytes    int64    // QV_SANDBOX_TMP, /tmp size (default 256MiB)
	EgressAllow []string // QV_EGRESS_ALLOW, comma-separated; "none" allows nothing
	// EgressPermit are addresses exempt from the egress proxy's check of
	// private and reserved ranges, for a registry mirror on such an address
	// (QV_EGRESS_PERMIT, comma-separated CIDRs or addresses).
	EgressPermit []netip.Prefix
	// WarmPool is how many local sandboxes are kept launched ahead of
	// time, so a create takes one instead of launching
	// (QV_SANDBOX_WARM_POOL, default 0).
	WarmPool int
}

// DefaultEgressAllow is the egress allowlist when QV_EGRESS_ALLOW is unset:
// the npm registry, PyPI, the Go module proxy and GitHub.
var DefaultEgressAllow = []string{
	"registry.npmjs.org",
	"pypi.org", "files.pythonhosted.org",
	"proxy.golang.org", "sum.golang.org",
	"github.com", "codeload.github.com", "objects.githubusercontent.com",
}

func loadIsolation(getenv func(string) string) (Isolation, []error) {
	var errs []error
	size := func(key string, def int64) int64 {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := ParseSize(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", key, v, err))
			return def
		}
		return n
	}
	iso := Isolation{
		MemoryBytes: size("QV_SANDBOX_MEMORY", 1<<30),
		DiskBytes:   size("QV_SANDBOX_DISK", 0),
		TmpBytes:    size("QV_SANDBOX_TMP", 256<<20),
		Pids:        256,
		CPU:         1,
		EgressAllow: DefaultEgressAllow,
	}
	if v := strings.TrimSpace(getenv("QV_SANDBOX_PIDS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("QV_SANDBOX_PIDS=%q: want a whole number such as 256 (0: no limit)", v))
		} else {
			iso.Pids = n
		}
	}
	if v := strings.TrimSpace(getenv("QV_SANDBOX_WARM_POOL")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 64 {
			errs = append(errs, fmt.Errorf("QV_SANDBOX_WARM_POOL=%q: want a number of sandboxes from 0 to 64", v))
		} else {
			iso.WarmPool = n
		}
	}
	if v := strings.TrimSpace(getenv("QV_SANDBOX_CPU")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1024 {
			errs = append(errs, fmt.Errorf("QV_SANDBOX_CPU=%q: want cores such as 1 or 0.5 (0: no limit)", v))
		} else {
			iso.CPU = f
		}
	}
	if v := strings.TrimSpace(getenv("QV_EGRESS_ALLOW")); v != "" {
		iso.EgressAllow = nil
		if v != "none" {
			iso.EgressAllow = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		}
	}
	for item := range strings.FieldsFuncSeq(getenv("QV_EGRESS_PERMIT"), func(r rune) bool { return r == ',' || r == ' ' }) {
		pfx, err := netip.ParsePrefix(item)
		if err != nil {
			addr, aerr := netip.ParseAddr(item)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("QV_EGRESS_PERMIT: %q is neither a CIDR nor an address", item))
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		iso.EgressPermit = append(iso.EgressPermit, pfx)
	}
	if iso.TmpBytes == 0 {
		errs = append(errs, fmt.Errorf("QV_SANDBOX_TMP: /tmp needs a size"))
	}
	return iso, errs
}

// ParseSize reads a byte size: a number with an optional unit, binary
// (KiB, MiB, GiB, TiB, or K, M, G, T) or "B".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("want a size such as 512MiB or 1GiB")
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q: want KiB, MiB, GiB or TiB", unit)
	}
	return int64(f * mult), nil
}
