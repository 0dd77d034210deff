package preview

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrBadToken covers every way a preview token can be wrong; callers need
// not know which.
var ErrBadToken = errors.New("preview: invalid or expired token")

// Claims are what a preview token grants: Subject may see Port of
// SandboxID until ExpiresAt. Subject is "u:<userID>" or "s:<shareID>".
type Claims struct {
	Subject   string    `json:"sub"`
	SandboxID string    `json:"sbx"`
	Port      int       `json:"port"`
	ExpiresAt time.Time `json:"exp"`
}

// Signer makes and checks preview tokens: base64url(JSON claims) "."
// base64url(HMAC-SHA256). The key is derived from the server secret so it
// cannot be confused with any other use of that secret.
type Signer struct {
	key []byte
}

// NewSigner derives the preview-token key from the server secret.
func NewSigner(secret []byte) *Signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("quickvibe preview token v1"))
	return &Signer{key: m.Sum(nil)}
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) (string, error) {
	c.ExpiresAt = c.ExpiresAt.UTC().Truncate(time.Second)
	data, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(data)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Verify checks token's signature and expiry at now and that it names
// sandboxID and port.
func (s *Signer) Verify(token, sandboxID string, port int, now time.Time) (Claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return Claims{}, ErrBadToken
	}
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrBadToken
	}
	var c Claims
	if err := json.Unmarshal(data, &c); err != nil {
		return Claims{}, ErrBadToken
	}
	if c.SandboxID != sandboxID || c.Port != port || !now.Before(c.ExpiresAt) || c.Subject == "" {
		return Claims{}, ErrBadToken
	}
	return c, nil
}
