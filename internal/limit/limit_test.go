package limit

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestWindowAllowsMaxPerPeriod(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := NewWindow(3, time.Minute, c.now)
	for i := range 3 {
		if d := w.Allow("u"); d != 0 {
			t.Fatalf("event %d refused for %v", i+1, d)
		}
		c.t = c.t.Add(10 * time.Second)
	}
	// Fourth event at 0:30; the first (0:00) leaves the window at 1:00.
	if d := w.Allow("u"); d != 30*time.Second {
		t.Errorf("fourth event: wait %v, want 30s", d)
	}
	if d := w.Allow("other"); d != 0 {
		t.Errorf("another key refused: %v", d)
	}
	c.t = c.t.Add(30 * time.Second)
	if d := w.Allow("u"); d != 0 {
		t.Errorf("after the oldest left the window: wait %v, want 0", d)
	}
	if d := w.Allow("u"); d != 10*time.Second {
		t.Errorf("next: wait %v, want 10s", d)
	}
}

func TestWindowAddAndReset(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := NewWindow(2, 15*time.Minute, c.now)
	w.Add("a")
	if d := w.Blocked("a"); d != 0 {
		t.Fatalf("one failure blocks: %v", d)
	}
	w.Add("a")
	w.Add("a") // failures keep counting while blocked
	if d := w.Blocked("a"); d != 15*time.Minute {
		t.Errorf("blocked for %v, want 15m from the latest failures", d)
	}
	w.Reset("a")
	if d := w.Blocked("a"); d != 0 {
		t.Errorf("after reset blocked for %v", d)
	}
}
