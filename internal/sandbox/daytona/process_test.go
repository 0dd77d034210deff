package daytona

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/sandbox"
	"github.com/quickvibe/quickvibe/internal/sandbox/daytona/daytonatest"
)

// waitExited polls until the process is not running.
func waitExited(t *testing.T, p *Provider, id, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := p.Process(t.Context(), id, name)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still running: %+v", name, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type seqLine struct {
	Seq  int64
	Line string
}

func TestSeqGrowsAcrossReplacement(t *testing.T) {
	p := onFake(t, newFake(t, daytonatest.Options{}), nil)
	info, err := createAndDelete(t, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := p.StartProcess(ctx, info.ID, sandbox.ProcessRequest{Name: "dev", Command: "echo a; echo b"}); err != nil {
		t.Fatal(err)
	}
	waitExited(t, p, info.ID, "dev")

	// A follower started now sees the first run's lines, then the
	// replacement's, numbered on.
	followed := make(chan []seqLine, 1)
	caughtUp := make(chan struct{})
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		var got []seqLine
		_ = p.ProcessLogs(fctx, info.ID, sandbox.LogsRequest{Name: "dev", Follow: true}, func(l sandbox.LogLine) error {
			got = append(got, seqLine{l.Seq, l.Line})
			switch {
			case l.Seq == 3:
				close(caughtUp)
			case l.Line == "c":
				cancel()
			}
			return nil
		})
		followed <- got
	}()
	select {
	case <-caughtUp:
	case <-fctx.Done():
		t.Fatalf("the follower never delivered the first run: %v", <-followed)
	}
	if err := p.StartProcess(ctx, info.ID, sandbox.ProcessRequest{Name: "dev", Command: "echo c"}); err != nil {
		t.Fatal(err)
	}
	want := []seqLine{{1, "a"}, {2, "b"}, {3, "exited with code 0"}, {4, "c"}}
	if diff := cmp.Diff(want, <-followed); diff != "" {
		t.Errorf("followed across the replacement (-want +got):\n%s", diff)
	}
	waitExited(t, p, info.ID, "dev")
	var got []seqLine
	if err := p.ProcessLogs(ctx, info.ID, sandbox.LogsRequest{Name: "dev"}, func(l sandbox.LogLine) error {
		got = append(got, seqLine{l.Seq, l.Line})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]seqLine{{4, "c"}, {5, "exited with code 0"}}, got); diff != "" {
		t.Errorf("logs of the replacement (-want +got):\n%s", diff)
	}
}
