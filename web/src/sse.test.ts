import { describe, expect, it } from 'vitest';
import { RunStream, type EventSourceLike } from './sse';
import type { RunEvent } from './events';

// FakeSource stands in for the browser's EventSource.
class FakeSource implements EventSourceLike {
  readyState = 0;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(public url: string) {}
  addEventListener(type: string, l: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    for (const l of this.listeners.get('open') ?? []) l({} as MessageEvent);
  }
  send(seq: number, type = 'message', data: any = { type: 'assistant', content: `m${seq}`, delta: true }) {
    const frame = { seq, type, runId: 'r1', data };
    for (const l of this.listeners.get(type) ?? []) l({ data: JSON.stringify(frame), lastEventId: String(seq) } as MessageEvent);
  }
  fail(closed: boolean) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.({} as Event);
  }
}

function setup(after?: number) {
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const got: RunEvent[] = [];
  const states: boolean[] = [];
  const stream = new RunStream({
    runId: 'r1',
    after,
    onEvent: (e) => got.push(e),
    onState: (c) => states.push(c),
    open: (url) => {
      const s = new FakeSource(url);
      sources.push(s);
      return s;
    },
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => {},
  });
  return { stream, sources, timers, got, states };
}

describe('RunStream', () => {
  it('resumes after the last event seen when reopened', () => {
    const { stream, sources, timers, got } = setup();
    expect(sources[0].url).toBe('/api/runs/r1/events');
    sources[0].open();
    sources[0].send(1);
    sources[0].send(2);
    // The browser gives up on the connection: we reopen from seq 2.
    sources[0].fail(true);
    expect(sources[0].closed).toBe(true);
    expect(sources).toHaveLength(1);
    timers.shift()!();
    expect(sources).toHaveLength(2);
    expect(sources[1].url).toBe('/api/runs/r1/events?after=2');
    sources[1].send(3);
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(stream.lastSeq).toBe(3);
  });

  it('never delivers an event twice when a reconnect overlaps', () => {
    const { sources, got } = setup();
    sources[0].send(1);
    sources[0].send(2);
    // The browser's own retry (Last-Event-ID) may resend what we saw.
    sources[0].fail(false);
    sources[0].send(2);
    sources[0].send(1);
    sources[0].send(3);
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(sources).toHaveLength(1); // the browser retries by itself
  });

  it('starts after a given sequence, as after a page reload', () => {
    const { sources, got } = setup(7);
    expect(sources[0].url).toBe('/api/runs/r1/events?after=7');
    sources[0].send(7);
    sources[0].send(8);
    expect(got.map((e) => e.seq)).toEqual([8]);
  });

  it('stops at the terminal event and does not reconnect', () => {
    const { stream, sources, timers, got } = setup();
    sources[0].send(1);
    sources[0].send(2, 'complete', { success: true });
    expect(stream.done).toBe(true);
    expect(sources[0].closed).toBe(true);
    sources[0].fail(true);
    sources[0].send(3);
    expect(timers).toHaveLength(0);
    expect(got.map((e) => e.type)).toEqual(['message', 'complete']);
  });

  it('reports connection state', () => {
    const { sources, states } = setup();
    sources[0].open();
    sources[0].fail(false);
    expect(states).toEqual([true, false]);
  });

  it('stop cancels a pending reconnect', () => {
    let cleared = 0;
    const sources: FakeSource[] = [];
    const stream = new RunStream({
      runId: 'r1',
      onEvent: () => {},
      open: (u) => {
        const s = new FakeSource(u);
        sources.push(s);
        return s;
      },
      setTimer: () => 'timer',
      clearTimer: () => cleared++,
    });
    sources[0].fail(true);
    stream.stop();
    expect(cleared).toBe(1);
    expect(sources).toHaveLength(1);
  });
});
