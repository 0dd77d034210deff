package app

import (
	"strings"

	"github.com/quickvibe/quickvibe/internal/auth"
	"github.com/quickvibe/quickvibe/internal/config"
	"github.com/quickvibe/quickvibe/internal/preview"
)

// security holds the parts of private previews and single sign-on.
type security struct {
	previewAccess preview.Access
	oidc          *auth.OIDC // nil unless QV_OIDC_ISSUER is set
}

func newSecurity(cfg config.Config, svc *auth.Service) (security, error) {
	secret, err := auth.LoadSecret(cfg.DataDir, cfg.Security.Secret)
	if err != nil {
		return security{}, err
	}
	sec := security{previewAccess: preview.Access{
		Signer: preview.NewSigner(secret),
		Policy: svc.PreviewPolicy(),
		// App and previews are different sites under https or on the
		// *.localhost default; the preview frame's cookie must cross.
		CrossSiteCookie: cfg.PublicURL.Scheme == "https" || cfg.PreviewDomain == "localhost" || strings.HasSuffix(cfg.PreviewDomain, ".localhost"),
	}}
	if cfg.Security.OIDCEnabled() {
		sec.oidc = auth.NewOIDC(cfg.Security.OIDCIssuer, cfg.Security.OIDCClientID, cfg.Security.OIDCClientSecret,
			cfg.PublicURL.JoinPath("/api/auth/oidc/callback").String(), nil)
	}
	return sec, nil
}

// Config is the configuration the app runs with.
func (a *App) Config() config.Config { return a.cfg }
