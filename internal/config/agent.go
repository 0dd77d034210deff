package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quickvibe/quickvibe/internal/llm"
)

// Agent holds the model provider, retry, fix-loop, context and budget
// settings (issue 4).
type Agent struct {
	OpenAIAPIKey  string // OPENAI_API_KEY
	OpenAIBaseURL string // OPENAI_BASE_URL
	// ModelAttempts is how often a model call is tried in all (QV_MODEL_ATTEMPTS).
	ModelAttempts int
	// ModelRetryDelay is the first backoff between tries (QV_MODEL_RETRY_DELAY).
	ModelRetryDelay time.Duration
	// MaxFixAttempts bounds the rounds of fixing errors per prompt (QV_MAX_FIX_ATTEMPTS).
	MaxFixAttempts int
	// ContextTokens is the context size the agent keeps each request under (QV_CONTEXT_TOKENS).
	ContextTokens int
	// MaxRunCostUSD and MaxUserMonthlyCostUSD cap spending; zero means no cap
	// (QV_MAX_RUN_COST_USD, QV_MAX_USER_MONTHLY_COST_USD).
	MaxRunCostUSD         float64
	MaxUserMonthlyCostUSD float64
	// Prices is the price table (defaults plus QV_MODEL_PRICES).
	Prices llm.Prices
	// BrowserCheck loads the app's page in headless Chromium at each check
	// of a run, when Chromium is installed (QV_BROWSER_CHECK=auto, the
	// default; off turns it off).
	BrowserCheck bool
}

// Defaults of the agent settings, referred to by the README.
const (
	DefaultModelAttempts         = 5
	DefaultModelRetryDelay       = time.Second
	DefaultMaxFixAttempts        = 3
	DefaultContextTokens         = 150_000
	DefaultMaxRunCostUSD         = 5.0
	DefaultMaxUserMonthlyCostUSD = 50.0
)

func loadAgent(getenv func(string) string, duration func(string, time.Duration) time.Duration, errs *[]error) Agent {
	integer := func(key string, def, least int) int {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			*errs = append(*errs, fmt.Errorf("%s=%q: want a whole number of at least %d", key, v, least))
			return def
		}
		return n
	}
	dollars := func(key string, def float64) float64 {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
		if err != nil || f < 0 {
			*errs = append(*errs, fmt.Errorf("%s=%q: want an amount of US dollars such as 2.50, or 0 for no limit", key, v))
			return def
		}
		return f
	}
	a := Agent{
		OpenAIAPIKey:          strings.TrimSpace(getenv("OPENAI_API_KEY")),
		OpenAIBaseURL:         strings.TrimSpace(getenv("OPENAI_BASE_URL")),
		ModelAttempts:         integer("QV_MODEL_ATTEMPTS", DefaultModelAttempts, 1),
		ModelRetryDelay:       duration("QV_MODEL_RETRY_DELAY", DefaultModelRetryDelay),
		MaxFixAttempts:        integer("QV_MAX_FIX_ATTEMPTS", DefaultMaxFixAttempts, 0),
		ContextTokens:         integer("QV_CONTEXT_TOKENS", DefaultContextTokens, 2000),
		MaxRunCostUSD:         dollars("QV_MAX_RUN_COST_USD", DefaultMaxRunCostUSD),
		MaxUserMonthlyCostUSD: dollars("QV_MAX_USER_MONTHLY_COST_USD", DefaultMaxUserMonthlyCostUSD),
	}
	prices, err := llm.ParsePrices(getenv("QV_MODEL_PRICES"), llm.DefaultPrices())
	if err != nil {
		*errs = append(*errs, fmt.Errorf("QV_MODEL_PRICES: %w", err))
		prices = llm.DefaultPrices()
	}
	a.Prices = prices
	switch v := strings.TrimSpace(getenv("QV_BROWSER_CHECK")); v {
	case "", "auto":
		a.BrowserCheck = true
	case "off":
	default:
		*errs = append(*errs, fmt.Errorf("QV_BROWSER_CHECK=%q: want auto (check pages in headless Chromium when it is installed) or off", v))
	}
	return a
}
