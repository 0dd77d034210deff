package bwrap

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// pooledIDs returns the ids waiting in p's pool.
func pooledIDs(p *Provider) []string {
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	return append([]string(nil), p.pool.ready...)
}

func waitPoolFull(t *testing.T, p *Provider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := p.waitPool(ctx, p.pool.size); err != nil {
		t.Fatal(err)
	}
}

func TestWarmPool(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	p := newProvider(t, Config{Dir: dir, WarmPool: 1})
	waitPoolFull(t, p)
	pooled := pooledIDs(p)[0]

	// Until it is handed out, a pooled sandbox does not exist for the API.
	if list, err := p.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List with only a pooled sandbox = %v, %v; want none", list, err)
	}
	if _, err := p.Get(ctx, pooled); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Get(pooled) err = %v, want ErrNotFound", err)
	}
	if _, err := p.Exec(ctx, pooled, sandbox.ExecRequest{Command: "true"}); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Exec(pooled) err = %v, want ErrNotFound", err)
	}
	if err := p.Delete(ctx, pooled); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Delete(pooled) err = %v, want ErrNotFound", err)
	}

	// Create hands it out with the caller's labels, running.
	before := time.Now().UTC().Truncate(time.Millisecond)
	labels := map[string]string{"project": "p1"}
	info, err := p.Create(ctx, sandbox.Spec{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != pooled || info.State != sandbox.StateRunning || !cmp.Equal(info.Labels, labels) || info.CreatedAt.Before(before) {
		t.Errorf("Create = %+v; want pooled sandbox %s, running, labels %v, created now", info, pooled, labels)
	}
	if got, err := p.Get(ctx, info.ID); err != nil || !cmp.Equal(got, info) {
		t.Errorf("Get after Create = %+v, %v; want %+v", got, err, info)
	}
	if res := run(t, p, info.ID, "id -u; ls -A /workspace | wc -l"); res.Output != "1000\n0\n" {
		t.Errorf("handed-out sandbox: %q, want uid 1000 and an empty workspace", res.Output)
	}

	// The pool refills with a fresh sandbox, again hidden.
	waitPoolFull(t, p)
	next := pooledIDs(p)[0]
	if next == info.ID {
		t.Fatalf("pool refilled with the sandbox it handed out")
	}
	list, err := p.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != info.ID {
		t.Errorf("List = %v, %v; want only %s", list, err, info.ID)
	}

	// Close deletes what is still pooled and keeps the handed-out sandbox.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.sandboxDir(next)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pooled sandbox dir after Close: %v, want it gone", err)
	}
	m, err := p.readMeta(info.ID)
	if err != nil || m.Pooled {
		t.Errorf("handed-out sandbox after Close: %+v, %v; want it kept, not pooled", m, err)
	}
}

// TestWarmPoolSkipsDeadSandbox: a pooled sandbox that died is not handed
// out; Create launches a new one and the dead one is deleted.
func TestWarmPoolSkipsDeadSandbox(t *testing.T) {
	ctx := t.Context()
	p := newProvider(t, Config{WarmPool: 1})
	waitPoolFull(t, p)
	dead := pooledIDs(p)[0]
	in := p.instance(dead)
	in.kill()
	<-in.done

	info, err := p.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID == dead || info.State != sandbox.StateRunning {
		t.Errorf("Create = %+v; want a running sandbox other than the dead %s", info, dead)
	}
	if res := run(t, p, info.ID, "echo ok"); res.Output != "ok\n" {
		t.Errorf("exec in the new sandbox: %q", res.Output)
	}
	if _, err := os.Stat(p.sandboxDir(dead)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead pooled sandbox dir: %v, want it gone", err)
	}
}

// TestLeftoverPooledSandboxRemovedAtNew: pooled sandboxes of a server that
// was killed are deleted when the next one starts.
func TestLeftoverPooledSandboxRemovedAtNew(t *testing.T) {
	dir := t.TempDir()
	p1 := newProvider(t, Config{Dir: dir})
	id := create(t, p1)
	kept := create(t, p1)
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := p1.readMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	m.Pooled = true
	if err := p1.writeMeta(m); err != nil {
		t.Fatal(err)
	}

	p2 := newProvider(t, Config{Dir: dir})
	if _, err := os.Stat(p2.sandboxDir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover pooled sandbox dir: %v, want it gone", err)
	}
	if _, err := p2.Get(t.Context(), kept); err != nil {
		t.Errorf("ordinary sandbox after restart: %v", err)
	}
}
