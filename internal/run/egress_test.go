package run

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/quickvibe/quickvibe/internal/agent"
	"github.com/quickvibe/quickvibe/internal/events"
)

func TestEgressRefusalsBecomeLogEvents(t *testing.T) {
	var mu sync.Mutex
	var notify func(string)
	subscribedTo, stopped := "", false
	a := fakeAgent{run: func(ctx context.Context, obs agent.Observer) (agent.Result, error) {
		// An `npm install` of a package from a host not on the allowlist.
		mu.Lock()
		if notify != nil {
			notify("egress refused: evil.example:443: host is not on the allowlist")
		}
		mu.Unlock()
		return writesIndex(ctx, obs)
	}}
	f := newFixture(t, workingProvider(), a)
	f.m.cfg.EgressRefusals = func(sandboxID string, fn func(string)) func() {
		mu.Lock()
		defer mu.Unlock()
		subscribedTo, notify = sandboxID, fn
		return func() {
			mu.Lock()
			defer mu.Unlock()
			notify, stopped = nil, true
		}
	}
	r := f.start(t, "an app that needs a package")
	evs := f.events(t, r.ID)
	if term := lastEvent(t, evs); term.Type != events.TypeComplete {
		t.Fatalf("run ended with %+v", term)
	}
	found := false
	for _, e := range evs {
		if e.Type != events.TypeLog {
			continue
		}
		var l events.LogLine
		_ = json.Unmarshal(e.Data, &l)
		if l.Stream == "egress" && l.Line == "egress refused: evil.example:443: host is not on the allowlist" {
			found = true
		}
	}
	if !found {
		t.Errorf("no egress log event among %d events", len(evs))
	}
	mu.Lock()
	defer mu.Unlock()
	if subscribedTo != "sbx000000001" || !stopped {
		t.Errorf("subscribed to %q, stopped %v; want the run's sandbox, stopped at the end", subscribedTo, stopped)
	}
}
