package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretFile holds the generated server secret inside the data directory.
const secretFile = "secret"

// LoadSecret returns the server secret that keys preview tokens: configured
// (QV_SECRET) if given, otherwise generated once and kept, readable by the
// owner only, in dataDir so tokens survive restarts.
func LoadSecret(dataDir, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, secretFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := strings.TrimSpace(string(data))
		if len(s) < 32 {
			return nil, fmt.Errorf("server secret %s is too short: delete it to generate a new one", path)
		}
		return []byte(s), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	// Two rand.Text values: 256 bits of randomness.
	secret := rand.Text() + rand.Text()
	// O_EXCL: of two servers starting on one data dir, one secret wins.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadSecret(dataDir, "")
	}
	if err != nil {
		return nil, fmt.Errorf("create server secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write server secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write server secret: %w", err)
	}
	return []byte(secret), nil
}
