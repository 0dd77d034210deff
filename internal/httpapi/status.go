package httpapi

import (
	"net/http"
)

type statusJSON struct {
	Version       string `json:"version"`
	SetupRequired bool   `json:"setupRequired"`
	Model         struct {
		Configured bool   `json:"configured"`
		Provider   string `json:"provider"`
		Model      string `json:"model"`
		Reason     string `json:"reason,omitempty"`
	} `json:"model"`
	Sandbox struct {
		Engine string `json:"engine"`
		Ready  bool   `json:"ready"`
		Reason string `json:"reason,omitempty"`
	} `json:"sandbox"`
	PreviewDomain string `json:"previewDomain"`
	// Auth tells the sign-in page what to offer.
	Auth struct {
		SSO        bool `json:"sso"`
		OpenSignup bool `json:"openSignup"`
	} `json:"auth"`
}

// status tells anyone whether this server can do its work, and if not, why.
func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	var st statusJSON
	st.Version = s.Version
	n, err := s.Store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	st.SetupRequired = n == 0
	st.Model.Configured, st.Model.Reason = s.Config.ModelConfigured()
	st.Model.Provider, st.Model.Model = s.Config.ModelProvider, s.Config.Model
	st.Sandbox.Engine = s.Sandboxes.Name()
	if err := s.Sandboxes.Ready(r.Context()); err != nil {
		st.Sandbox.Reason = err.Error()
	} else {
		st.Sandbox.Ready = true
	}
	st.PreviewDomain = s.Config.PreviewDomain
	st.Auth.SSO, st.Auth.OpenSignup = s.OIDC != nil, s.Config.Security.OpenSignup
	writeJSON(w, http.StatusOK, st)
	return nil
}
