package daytona

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/quickvibe/quickvibe/internal/sandbox"
)

// maxTimedLines bounds the remembered first-read times per command; later
// lines share the last one.
const maxTimedLines = 20000

// lineTime is when line idx (from 0) of a session command was first read.
// Lines are read in order, so every earlier line has its time already.
func (p *Provider) lineTime(id string, s procSession, idx int64) time.Time {
	b := p.box(id)
	key := s.id + "/" + s.cmd.ID
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := b.lineTimes[key]
	if int64(len(ts)) <= idx && len(ts) < maxTimedLines {
		now := p.now().UTC()
		for int64(len(ts)) <= idx && len(ts) < maxTimedLines {
			ts = append(ts, now)
		}
		b.lineTimes[key] = ts
	}
	if idx < int64(len(ts)) {
		return ts[idx]
	}
	return ts[len(ts)-1]
}

// maxStreamFailures is how many log streams in a row may fail without
// delivering a line before following gives up.
const maxStreamFailures = 5

// replacedPoll is how often a follower whose process ended looks for a
// replacement (a new session under the same name).
const replacedPoll = time.Second

// ProcessLogs implements sandbox.Provider. The kept lines come from the
// command's HTTP log; with Follow, new ones from its WebSocket stream,
// which replays the log from the start: lines up to the last one
// delivered are recognised by Seq and skipped. When the process is
// replaced, following goes on with the new one. Time is when this server
// first read the line (Daytona keeps no timestamps).
func (p *Provider) ProcessLogs(ctx context.Context, id string, req sandbox.LogsRequest, fn func(sandbox.LogLine) error) error {
	s, err := p.findSession(ctx, id, req.Name)
	if err != nil {
		return err
	}
	out, err := p.commandOutput(ctx, id, s)
	if err != nil {
		return fmt.Errorf("process %q: %w", req.Name, err)
	}
	// A follower leaves an unterminated last line to the stream, which
	// delivers it whole.
	lines := demuxAll(out, !req.Follow)
	var kept []sandbox.LogLine
	for i, l := range lines {
		seq := s.base + int64(i) + 1
		t := p.lineTime(id, s, int64(i))
		if seq > req.After {
			kept = append(kept, sandbox.LogLine{Seq: seq, Time: t, Stream: l.stream, Line: l.line})
		}
	}
	if req.Limit > 0 && len(kept) > req.Limit {
		kept = kept[len(kept)-req.Limit:]
	}
	for _, l := range kept {
		if err := fn(l); err != nil {
			return err
		}
	}
	if !req.Follow {
		return nil
	}
	return p.follow(ctx, id, req.Name, s, max(req.After, s.base+int64(len(lines))), fn)
}

// follow streams session s and its successors, delivering lines after seq
// done, until ctx ends or fn fails.
func (p *Provider) follow(ctx context.Context, id, name string, s procSession, done int64, fn func(sandbox.LogLine) error) error {
	finished := false // s's stream ended with its command
	failures := 0     // streams in a row that broke off without a line
	for {
		if !finished && s.cmd.ID != "" {
			last, err := p.stream(ctx, id, s, done, fn)
			if last > done {
				failures = 0
			}
			done = max(done, last)
			var fnErr *callbackError
			switch {
			case errors.As(err, &fnErr):
				return fnErr.err
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				if failures++; failures >= maxStreamFailures {
					return fmt.Errorf("follow logs of process %q: %w", name, err)
				}
				p.log.Debug("log stream broke off; reconnecting", "sandbox", id, "process", name, "err", err)
			}
		}
		if err := p.sleep(ctx, replacedPoll); err != nil {
			return err
		}
		next, err := p.findSession(ctx, id, name)
		switch {
		case errors.Is(err, sandbox.ErrNoProcess):
			finished = true
			continue
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if next.id != s.id || next.cmd.ID != s.cmd.ID {
			s, finished = next, false
			continue
		}
		s = next
		finished = s.cmd.ExitCode != nil
	}
}

// callbackError carries fn's error out of the stream untouched.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// stream reads the command's log over its WebSocket (?follow=true), which
// the toolbox closes about a second after the command exits. It returns
// the last Seq delivered or skipped.
func (p *Provider) stream(ctx context.Context, id string, s procSession, done int64, fn func(sandbox.LogLine) error) (int64, error) {
	b, err := p.toolbox(ctx, id)
	if err != nil {
		return done, err
	}
	u := toWebSocketURL(b.url) + sessionPath(s.id) + "/command/" + url.PathEscape(s.cmd.ID) + "/logs?follow=true"
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: p.hc, HTTPHeader: p.authHeader()})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return done, fmt.Errorf("open log stream: %w", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	seq := s.base
	d := newDemux(func(stream, line string) error {
		seq++
		t := p.lineTime(id, s, seq-s.base-1)
		if seq <= done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err // nothing more once ctx ended, even from this frame
		}
		if err := fn(sandbox.LogLine{Seq: seq, Time: t, Stream: stream, Line: line}); err != nil {
			return &callbackError{err: err}
		}
		return nil
	})
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				err = d.flush()
				return max(done, seq), err
			}
			return max(done, seq), err
		}
		if err := d.write(data); err != nil {
			return max(done, seq), err
		}
	}
}

// toWebSocketURL turns an http(s) base into ws(s).
func toWebSocketURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(base, "http://"); ok {
		return "ws://" + rest
	}
	return base
}
