package config

import (
	"strings"
	"testing"
	"time"
)

func TestSecurityConfig(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		return Load(func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Security{PreviewTokenTTL: time.Hour, RatePromptsPerMinute: 20, MaxRunsPerUser: DefaultMaxRunsPerUser, MaxSandboxesPerUser: DefaultMaxSandboxesPerUser}
	if c.Security != want {
		t.Errorf("defaults = %+v, want %+v", c.Security, want)
	}
	c, err = load(map[string]string{
		"QV_PREVIEW_TOKEN_TTL": "10m", "QV_RATE_PROMPTS_PER_MINUTE": "5", "QV_MAX_RUNS_PER_USER": "2", "QV_MAX_SANDBOXES_PER_USER": "4",
		"QV_OPEN_SIGNUP": "true", "QV_OIDC_ISSUER": "https://id.example.com", "QV_OIDC_CLIENT_ID": "qv", "QV_OIDC_CLIENT_SECRET": "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Security; s.PreviewTokenTTL != 10*time.Minute || s.RatePromptsPerMinute != 5 || s.MaxRunsPerUser != 2 || s.MaxSandboxesPerUser != 4 || !s.OpenSignup || !s.OIDCEnabled() {
		t.Errorf("security = %+v", s)
	}
	for key, bad := range map[string]string{
		"QV_RATE_PROMPTS_PER_MINUTE": "0", "QV_MAX_RUNS_PER_USER": "many", "QV_OPEN_SIGNUP": "perhaps",
		"QV_SECRET": "short", "QV_OIDC_ISSUER": "id.example.com", "QV_PREVIEW_TOKEN_TTL": "-1h",
	} {
		_, err := load(map[string]string{key: bad})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: err = %v; want one naming the variable", key, bad, err)
		}
		if key == "QV_SECRET" && err != nil && strings.Contains(err.Error(), bad) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	if _, err := load(map[string]string{"QV_OIDC_ISSUER": "https://id.example.com"}); err == nil {
		t.Error("an issuer without a client id was accepted")
	}
}
