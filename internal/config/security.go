package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the security settings, referred to by the README.
const (
	DefaultPreviewTokenTTL      = time.Hour
	DefaultRatePromptsPerMinute = 20
	DefaultMaxRunsPerUser       = 3
	DefaultMaxSandboxesPerUser  = 10
)

func loadSecurity(getenv func(string) string, duration func(string, time.Duration) time.Duration, errs *[]error) Security {
	positive := func(key string, def int) int {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			*errs = append(*errs, fmt.Errorf("%s=%q: want a positive whole number", key, v))
			return def
		}
		return n
	}
	s := Security{
		Secret:               strings.TrimSpace(getenv("QV_SECRET")),
		PreviewTokenTTL:      duration("QV_PREVIEW_TOKEN_TTL", DefaultPreviewTokenTTL),
		RatePromptsPerMinute: positive("QV_RATE_PROMPTS_PER_MINUTE", DefaultRatePromptsPerMinute),
		MaxRunsPerUser:       positive("QV_MAX_RUNS_PER_USER", DefaultMaxRunsPerUser),
		MaxSandboxesPerUser:  positive("QV_MAX_SANDBOXES_PER_USER", DefaultMaxSandboxesPerUser),
		OIDCIssuer:           strings.TrimSpace(getenv("QV_OIDC_ISSUER")),
		OIDCClientID:         strings.TrimSpace(getenv("QV_OIDC_CLIENT_ID")),
		OIDCClientSecret:     strings.TrimSpace(getenv("QV_OIDC_CLIENT_SECRET")),
	}
	if v := strings.TrimSpace(getenv("QV_OPEN_SIGNUP")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("QV_OPEN_SIGNUP=%q: want true or false", v))
		}
		s.OpenSignup = b
	}
	if s.Secret != "" && len(s.Secret) < 32 {
		*errs = append(*errs, errors.New("QV_SECRET: want at least 32 characters (it is not shown here)"))
	}
	if s.OIDCIssuer != "" {
		u, err := url.Parse(s.OIDCIssuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			*errs = append(*errs, fmt.Errorf("QV_OIDC_ISSUER=%q: want the issuer's https URL", s.OIDCIssuer))
		}
		if s.OIDCClientID == "" {
			*errs = append(*errs, errors.New("QV_OIDC_CLIENT_ID: required when QV_OIDC_ISSUER is set"))
		}
	}
	return s
}
