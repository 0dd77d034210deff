package bwrap

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

const (
	idLen      = 12
	idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

	// firstUID is where per-sandbox host uids start: far above distribution
	// users and the usual subordinate-uid ranges of login users.
	firstUID = 200000
	lastUID  = firstUID + 1<<20
)

// idRE is what every id argument is checked against before it is used in a
// path; ids also appear in preview host names (3000-{id}.preview.localhost).
var idRE = regexp.MustCompile(`^[a-z0-9]{12}$`)

// newID returns 12 characters of [a-z0-9] from crypto/rand.
func newID() (string, error) {
	b := make([]byte, 0, idLen)
	var buf [32]byte
	for len(b) < idLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, c := range buf {
			// Reject the top of the byte range so every character is
			// equally likely (252 = 7*36).
			if c >= 252 || len(b) == idLen {
				continue
			}
			b = append(b, idAlphabet[int(c)%len(idAlphabet)])
		}
	}
	return string(b), nil
}

// meta is what the engine persists about a sandbox in Dir/<id>/meta.json.
type meta struct {
	ID        string            `json:"id"`
	UID       int               `json:"uid"`
	GID       int               `json:"gid"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	// Pooled: launched ahead of time for the warm pool and not handed out
	// yet (pool.go); hidden from every API call.
	Pooled bool `json:"pooled,omitempty"`
}

func (p *Provider) sandboxDir(id string) string { return filepath.Join(p.dir, id) }

// readMeta reads a sandbox's metadata; a pooled sandbox does not exist
// as far as callers of the API are concerned.
func (p *Provider) readMeta(id string) (meta, error) {
	m, err := p.loadMeta(id)
	if err == nil && m.Pooled {
		return meta{}, fmt.Errorf("sandbox %s: %w", id, sandbox.ErrNotFound)
	}
	return m, err
}

// loadMeta reads a sandbox's metadata, pooled or not.
func (p *Provider) loadMeta(id string) (meta, error) {
	if !idRE.MatchString(id) {
		return meta{}, fmt.Errorf("sandbox %q: invalid id: %w", id, sandbox.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(p.sandboxDir(id), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, fmt.Errorf("sandbox %s: %w", id, sandbox.ErrNotFound)
	}
	if err != nil {
		return meta{}, fmt.Errorf("read sandbox %s metadata: %w", id, err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, fmt.Errorf("decode sandbox %s metadata: %w", id, err)
	}
	if m.ID != id {
		return meta{}, fmt.Errorf("sandbox %s metadata names %q", id, m.ID)
	}
	return m, nil
}

// writeMeta replaces meta.json atomically. The directory is root-owned and
// never visible to the sandbox, so plain paths are safe here.
func (p *Provider) writeMeta(m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	dir := p.sandboxDir(m.ID)
	f, err := os.CreateTemp(dir, ".meta-*.json")
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "meta.json"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write metadata: %w", err)
	}
	return nil
}

// listIDs returns the ids of every sandbox directory on disk.
func (p *Provider) listIDs() ([]string, error) {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p.dir, err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && idRE.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// allocateUID picks the lowest free host uid. The caller holds allocMu and
// writes the new meta.json before releasing it, which is what makes the
// choice unique.
func (p *Provider) allocateUID() (int, error) {
	ids, err := p.listIDs()
	if err != nil {
		return 0, err
	}
	used := make(map[int]bool, len(ids))
	for _, id := range ids {
		m, err := p.loadMeta(id)
		if err != nil {
			// A half-created sandbox without metadata holds no uid yet.
			if errors.Is(err, sandbox.ErrNotFound) {
				continue
			}
			return 0, err
		}
		used[m.UID] = true
	}
	for uid := firstUID; uid < lastUID; uid++ {
		if !used[uid] {
			return uid, nil
		}
	}
	return 0, errors.New("no free sandbox uid left")
}
