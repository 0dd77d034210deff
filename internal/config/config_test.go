package config

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != DefaultAddr || c.DataDir != "data" || c.PreviewDomain != DefaultPreviewDomain {
		t.Errorf("defaults: got addr %q dir %q domain %q", c.Addr, c.DataDir, c.PreviewDomain)
	}
	if got, want := c.PublicURL.String(), "http://localhost:8080"; got != want {
		t.Errorf("public URL = %q, want %q", got, want)
	}
	if ok, why := c.ModelConfigured(); ok || !strings.Contains(why, "ANTHROPIC_API_KEY") {
		t.Errorf("ModelConfigured without key = %v, %q; want false naming ANTHROPIC_API_KEY", ok, why)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad addr", map[string]string{"QV_ADDR": "8080"}, "QV_ADDR"},
		{"bad duration", map[string]string{"QV_RUN_TIMEOUT": "soon"}, "QV_RUN_TIMEOUT"},
		{"bad public url", map[string]string{"QV_PUBLIC_URL": "ftp://x"}, "QV_PUBLIC_URL"},
		{"bad provider", map[string]string{"QV_SANDBOX_PROVIDER": "docker"}, "QV_SANDBOX_PROVIDER"},
		{"bad domain", map[string]string{"QV_PREVIEW_DOMAIN": "a/b"}, "QV_PREVIEW_DOMAIN"},
		{"bad log format", map[string]string{"QV_LOG_FORMAT": "xml"}, "QV_LOG_FORMAT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestPreviewHostRoundTrip(t *testing.T) {
	c, err := Load(envOf(map[string]string{"QV_PREVIEW_DOMAIN": "apps.example.com", "QV_PUBLIC_URL": "https://qv.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	u := c.PreviewURL("abc123def456", 3000)
	if want := "https://3000-abc123def456.apps.example.com/"; u != want {
		t.Fatalf("PreviewURL = %q, want %q", u, want)
	}
	tests := []struct {
		host   string
		id     string
		port   int
		wantOK bool
	}{
		{"3000-abc123def456.apps.example.com", "abc123def456", 3000, true},
		{"3000-abc123def456.apps.example.com:443", "abc123def456", 3000, true},
		{"3000-ABC123DEF456.Apps.Example.com", "abc123def456", 3000, true},
		{"apps.example.com", "", 0, false},
		{"x.3000-abc.apps.example.com", "", 0, false},
		{"99999-abc.apps.example.com", "", 0, false},
		{"3000.apps.example.com", "", 0, false},
		{"3000-abc.example.com", "", 0, false},
		{"localhost:8080", "", 0, false},
	}
	for _, tt := range tests {
		id, port, ok := c.ParsePreviewHost(tt.host)
		if ok != tt.wantOK || id != tt.id || port != tt.port {
			t.Errorf("ParsePreviewHost(%q) = %q, %d, %v; want %q, %d, %v", tt.host, id, port, ok, tt.id, tt.port, tt.wantOK)
		}
	}
}
