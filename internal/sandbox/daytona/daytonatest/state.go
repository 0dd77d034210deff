package daytonatest

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// fakeSandbox is one Daytona sandbox. Its fields are guarded by Server.mu;
// opMu serialises the backend calls of its lifecycle.
type fakeSandbox struct {
	id, name    string
	backendID   string
	snapshot    string
	user        string
	target      string
	env, labels map[string]string
	public      bool
	cpu, gpu    int
	memory      int
	disk        int
	buildInfo   bool

	state, desiredState string
	errorReason         string
	recoverable         bool
	autoStop            int
	autoArchive         int
	autoDelete          int
	createdAt           time.Time
	updatedAt           time.Time
	lastActivityAt      time.Time
	authToken           string
	// changed is closed and replaced on every state change, so handlers
	// can wait for one.
	changed chan struct{}

	opMu sync.Mutex

	sessions map[string]*session // guarded by Server.mu
	ptyMu    sync.Mutex
	ptys     map[string]*ptySession // guarded by ptyMu
}

// startFailure is what FailNextStart asked for.
type startFailure struct{ state, reason string }

// FailNextStart makes the next create or start end in state ("error" or
// "build_failed") with errorReason reason instead of "started".
func (s *Server) FailNextStart(state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = &startFailure{state: state, reason: reason}
}

// SetState puts a sandbox into a state as a Daytona operator or its
// schedulers would: "stopped" and "archived" stop the backend sandbox,
// "destroyed" deletes it (the sandbox then answers 404), anything else
// only changes the reported state.
func (s *Server) SetState(id, state string) {
	s.mu.Lock()
	sb := s.lookupLocked(id)
	s.mu.Unlock()
	if sb == nil {
		return
	}
	sb.opMu.Lock()
	defer sb.opMu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	switch state {
	case "stopped", "archived":
		sb.closeTerminals()
		_ = s.opts.Backend.Stop(ctx, sb.backendID)
	case "destroyed":
		sb.closeTerminals()
		_ = s.opts.Backend.Delete(ctx, sb.backendID)
		s.mu.Lock()
		delete(s.sandboxes, sb.id)
		s.setStateLocked(sb, state)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.setStateLocked(sb, state)
	s.mu.Unlock()
}

// lookupLocked finds a sandbox by id, then by name. The caller holds s.mu.
func (s *Server) lookupLocked(idOrName string) *fakeSandbox {
	if sb := s.sandboxes[idOrName]; sb != nil {
		return sb
	}
	for _, sb := range s.sandboxes {
		if sb.name == idOrName {
			return sb
		}
	}
	return nil
}

// setStateLocked changes the state and wakes waiters. The caller holds s.mu.
func (s *Server) setStateLocked(sb *fakeSandbox, state string) {
	sb.state = state
	sb.updatedAt = time.Now().UTC()
	if state == "started" {
		sb.errorReason, sb.recoverable = "", false
	}
	close(sb.changed)
	sb.changed = make(chan struct{})
}

// settled reports whether a state is one a client stops waiting in.
func settled(state string) bool {
	switch state {
	case "creating", "starting", "pending_build", "building_snapshot", "restoring", "stopping", "archiving", "destroying":
		return false
	}
	return true
}

// waitSettled waits up to d for the sandbox to leave transitional states.
func (s *Server) waitSettled(ctx context.Context, sb *fakeSandbox, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		state, changed := sb.state, sb.changed
		s.mu.Unlock()
		if settled(state) {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// takeFailure consumes a pending FailNextStart.
func (s *Server) takeFailure() *startFailure {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failNext
	s.failNext = nil
	return f
}

// bringUp creates or starts the backend sandbox and moves the sandbox to
// started (or the failure FailNextStart asked for) after StartDelay.
func (s *Server) bringUp(ctx context.Context, sb *fakeSandbox, fail *startFailure) {
	sb.opMu.Lock()
	defer sb.opMu.Unlock()
	var err error
	if fail == nil {
		if sb.backendID == "" {
			var info sandbox.Info
			info, err = s.opts.Backend.Create(ctx, sandbox.Spec{Labels: map[string]string{"daytona-id": sb.id}})
			if err == nil {
				s.mu.Lock()
				sb.backendID = info.ID
				s.mu.Unlock()
			}
		} else {
			err = s.opts.Backend.Start(ctx, sb.backendID)
		}
	}
	if s.opts.StartDelay > 0 {
		select {
		case <-time.After(s.opts.StartDelay):
		case <-ctx.Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case fail != nil:
		sb.errorReason = fail.reason
		sb.recoverable = fail.state == "error"
		s.setStateLocked(sb, fail.state)
	case err != nil:
		sb.errorReason = fmt.Sprintf("runner failed to start the sandbox: %v", err)
		sb.recoverable = true
		s.setStateLocked(sb, "error")
	default:
		// The standard preview token changes on every start.
		sb.authToken = newToken(32)
		s.setStateLocked(sb, "started")
	}
}

// bringDown stops the backend sandbox, then moves to final.
func (s *Server) bringDown(ctx context.Context, sb *fakeSandbox, final string) {
	sb.opMu.Lock()
	defer sb.opMu.Unlock()
	sb.closeTerminals()
	if sb.backendID != "" {
		_ = s.opts.Backend.Stop(ctx, sb.backendID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb.sessions = make(map[string]*session)
	s.setStateLocked(sb, final)
}

// destroy deletes the backend sandbox and forgets the sandbox.
func (s *Server) destroy(ctx context.Context, sb *fakeSandbox) {
	sb.opMu.Lock()
	defer sb.opMu.Unlock()
	sb.closeTerminals()
	if sb.backendID != "" {
		_ = s.opts.Backend.Delete(ctx, sb.backendID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sandboxes, sb.id)
	s.setStateLocked(sb, "destroyed")
}

// closeTerminals ends the sandbox's PTY sessions.
func (sb *fakeSandbox) closeTerminals() {
	for _, p := range sb.ptyList() {
		p.kill()
	}
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newToken returns n random lowercase alphanumerics, the shape of
// Daytona's preview tokens.
func newToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
