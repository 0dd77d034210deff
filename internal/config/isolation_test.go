package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "64M": 64 << 20, "1.5G": 3 << 29, "4096": 4096, "10 KiB": 10 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1M", "5 parsecs", "1.2.3G"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestLoadIsolation(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	iso, errs := loadIsolation(get)
	if len(errs) != 0 || iso.MemoryBytes != 1<<30 || iso.Pids != 256 || iso.CPU != 1 || iso.TmpBytes != 256<<20 || !slices.Equal(iso.EgressAllow, DefaultEgressAllow) {
		t.Fatalf("defaults: %+v %v", iso, errs)
	}
	env = map[string]string{"QV_SANDBOX_MEMORY": "64MiB", "QV_SANDBOX_PIDS": "32", "QV_SANDBOX_CPU": "0.5", "QV_SANDBOX_TMP": "16M", "QV_EGRESS_ALLOW": "example.com, *.example.org"}
	iso, errs = loadIsolation(get)
	if len(errs) != 0 || iso.MemoryBytes != 64<<20 || iso.Pids != 32 || iso.CPU != 0.5 || iso.TmpBytes != 16<<20 || !slices.Equal(iso.EgressAllow, []string{"example.com", "*.example.org"}) {
		t.Fatalf("set: %+v %v", iso, errs)
	}
	env = map[string]string{"QV_EGRESS_ALLOW": "none"}
	if iso, _ = loadIsolation(get); len(iso.EgressAllow) != 0 {
		t.Errorf("none: %v", iso.EgressAllow)
	}
	env = map[string]string{"QV_SANDBOX_WARM_POOL": "2"}
	if iso, errs = loadIsolation(get); len(errs) != 0 || iso.WarmPool != 2 {
		t.Errorf("warm pool: %d %v", iso.WarmPool, errs)
	}
	env = map[string]string{"QV_SANDBOX_WARM_POOL": "-1"}
	if _, errs = loadIsolation(get); len(errs) != 1 || !strings.Contains(errs[0].Error(), "QV_SANDBOX_WARM_POOL") {
		t.Errorf("bad warm pool: %v", errs)
	}
	env = map[string]string{"QV_SANDBOX_MEMORY": "lots", "QV_SANDBOX_PIDS": "-3", "QV_SANDBOX_CPU": "fast"}
	_, errs = loadIsolation(get)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	for _, want := range []string{"QV_SANDBOX_MEMORY", "QV_SANDBOX_PIDS", "QV_SANDBOX_CPU"} {
		if !strings.Contains(strings.Join(msgs, "\n"), want) {
			t.Errorf("no error for %s: %v", want, msgs)
		}
	}
}
