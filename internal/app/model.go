package app

import (
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/llm"
	"github.com/quickvibe/quickvibe/internal/llm/anthropic"
	"github.com/quickvibe/quickvibe/internal/llm/openai"
)

// newModel makes the server's model from the configured provider, wrapped
// in QuickVibe's retries. The SDKs' own retries are off so that one layer,
// which also retries streams that broke off, decides how often and how long.
func newModel(cfg config.Config) (llm.Model, error) {
	var (
		m   llm.Model
		err error
	)
	switch cfg.ModelProvider {
	case "openai":
		m, err = openai.New(openai.Config{APIKey: cfg.Agent.OpenAIAPIKey, BaseURL: cfg.Agent.OpenAIBaseURL, Model: cfg.Model})
	default:
		m, err = anthropic.New(anthropic.Config{APIKey: cfg.AnthropicAPIKey, BaseURL: cfg.AnthropicBaseURL, Model: cfg.Model, MaxRetries: -1})
	}
	if err != nil {
		return nil, err
	}
	return llm.WithRetry(m, llm.RetryOptions{Attempts: cfg.Agent.ModelAttempts, BaseDelay: cfg.Agent.ModelRetryDelay}), nil
}

// fixAttempts maps QV_MAX_FIX_ATTEMPTS (0 turns fixing off) to run.Config
// (where 0 means the default and a negative value none).
func fixAttempts(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
