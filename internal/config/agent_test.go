package config

import (
	"strings"
	"testing"
)

func TestAgentConfig(t *testing.T) {
	load := func(vars map[string]string) (Config, error) {
		return Load(func(k string) string { return vars[k] })
	}
	c, err := load(map[string]string{"QV_MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": "http://localhost:11434/v1",
		"QV_MAX_RUN_COST_USD": "$2.5", "QV_MAX_FIX_ATTEMPTS": "0", "QV_MODEL_PRICES": "qwen=0/0"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := c.ModelConfigured(); ok || !strings.Contains(why, "QV_MODEL") {
		t.Errorf("openai without QV_MODEL: configured=%v %q; want a hint to set QV_MODEL", ok, why)
	}
	if c.Agent.MaxRunCostUSD != 2.5 || c.Agent.MaxFixAttempts != 0 || c.Agent.Prices["qwen"].OutputPerMTok != 0 || c.Agent.Prices["claude-sonnet-4-5"].InputPerMTok != 3 {
		t.Errorf("agent config = %+v", c.Agent)
	}
	if !c.Agent.BrowserCheck {
		t.Error("the browser check is off by default; want auto")
	}
	if c, err := load(map[string]string{"QV_BROWSER_CHECK": "off"}); err != nil || c.Agent.BrowserCheck {
		t.Errorf("QV_BROWSER_CHECK=off: %v, check on = %v", err, c.Agent.BrowserCheck)
	}
	c, err = load(map[string]string{"QV_MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": "http://x/v1", "QV_MODEL": "qwen"})
	if ok, _ := c.ModelConfigured(); err != nil || !ok {
		t.Errorf("openai with base URL and model: %v, configured=%v", err, ok)
	}
	for _, bad := range []map[string]string{
		{"QV_MODEL_PROVIDER": "gemini"},
		{"QV_MAX_RUN_COST_USD": "lots"},
		{"QV_MAX_FIX_ATTEMPTS": "-1"},
		{"QV_MODEL_PRICES": "gpt-4o=cheap"},
		{"QV_CONTEXT_TOKENS": "10"},
		{"QV_BROWSER_CHECK": "always"},
	} {
		if _, err := load(bad); err == nil {
			t.Errorf("Load(%v) succeeded, want an error", bad)
		}
	}
}
