package preview

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenBinding(t *testing.T) {
	s := NewSigner([]byte("a server secret of enough length here"))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tok, err := s.Sign(Claims{Subject: "u:1", SandboxID: "abc", Port: 3000, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Verify(tok, "abc", 3000, now); err != nil || c.Subject != "u:1" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	payload, sig, _ := strings.Cut(tok, ".")
	other, _ := NewSigner([]byte("another secret of enough length here")).Sign(Claims{Subject: "u:1", SandboxID: "abc", Port: 3000, ExpiresAt: now.Add(time.Hour)})
	tests := []struct {
		name, token, sandbox string
		port                 int
		at                   time.Time
	}{
		{"expired", tok, "abc", 3000, now.Add(time.Hour)},
		{"another sandbox", tok, "abd", 3000, now},
		{"another port", tok, "abc", 3001, now},
		{"other key", other, "abc", 3000, now},
		{"no signature", payload, "abc", 3000, now},
		{"tampered payload", payload + "x." + sig, "abc", 3000, now},
		{"empty", "", "abc", 3000, now},
	}
	for _, tt := range tests {
		if _, err := s.Verify(tt.token, tt.sandbox, tt.port, tt.at); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: Verify = %v, want ErrBadToken", tt.name, err)
		}
	}
}
