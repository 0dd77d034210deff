package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ErrOIDCFailed is any failure of a single sign-on answer; the detail goes
// to the log, not to the user.
var ErrOIDCFailed = errors.New("auth: single sign-on failed")

// OIDC signs users in with an OpenID Connect provider (authorization code
// flow with state, nonce and PKCE).
type OIDC struct {
	issuer, clientID, clientSecret, redirectURL string
	client                                      *http.Client

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use, so a down provider does not stop the server
}

// NewOIDC configures single sign-on; redirectURL is this server's callback.
// client, if not nil, is used for every call to the provider.
func NewOIDC(issuer, clientID, clientSecret, redirectURL string, client *http.Client) *OIDC {
	return &OIDC{issuer: issuer, clientID: clientID, clientSecret: clientSecret, redirectURL: redirectURL, client: client}
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	if o.client != nil {
		return oidc.ClientContext(ctx, o.client)
	}
	return ctx
}

func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.ctx(ctx), o.issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discover %s: %w", o.issuer, err)
		}
		o.provider = p
	}
	return o.provider, &oauth2.Config{
		ClientID: o.clientID, ClientSecret: o.clientSecret, RedirectURL: o.redirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}, nil
}

// OIDCFlow is the secret state of one sign-in attempt, kept by the browser
// (in an HttpOnly cookie) between the redirect and the callback.
type OIDCFlow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
}

// Start returns where to send the browser and the flow to keep.
func (o *OIDC) Start(ctx context.Context) (string, OIDCFlow, error) {
	_, conf, err := o.discover(ctx)
	if err != nil {
		return "", OIDCFlow{}, err
	}
	f := OIDCFlow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	return conf.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), f, nil
}

// Finish checks the callback's state against the flow, redeems code and
// verifies the ID token (signature, issuer, audience, expiry, nonce). It
// returns the email only if the provider says it is verified.
func (o *OIDC) Finish(ctx context.Context, f OIDCFlow, state, code string) (string, error) {
	if f.State == "" || state != f.State || code == "" {
		return "", fmt.Errorf("%w: state does not match", ErrOIDCFailed)
	}
	p, conf, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	ctx = o.ctx(ctx)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return "", fmt.Errorf("%w: redeem code: %w", ErrOIDCFailed, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return "", fmt.Errorf("%w: no id_token in the token response", ErrOIDCFailed)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.clientID}).Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrOIDCFailed, err)
	}
	if idt.Nonce != f.Nonce {
		return "", fmt.Errorf("%w: nonce does not match", ErrOIDCFailed)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("%w: claims: %w", ErrOIDCFailed, err)
	}
	if claims.Email == "" || !claims.EmailVerified {
		return "", fmt.Errorf("%w: the provider did not vouch for an email address", ErrOIDCFailed)
	}
	return claims.Email, nil
}
