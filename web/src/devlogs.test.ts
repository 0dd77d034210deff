import { describe, expect, it } from 'vitest';
import { DevLogStream, type DevLogLine, type DevLogProbe, type DevLogState } from './devlogs';
import type { EventSourceLike } from './sse';

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
  send(seq: number, line = `line ${seq}`, stream = 'stdout') {
    const data = { seq, time: `t${seq}`, stream, line };
    for (const l of this.listeners.get('log') ?? []) l({ data: JSON.stringify(data), lastEventId: String(seq) } as MessageEvent);
  }
  fail() {
    this.readyState = 2;
    this.onerror?.({} as Event);
  }
}

function setup(answer: (url: string) => DevLogProbe) {
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const probes: string[] = [];
  const seen: { lines: DevLogLine[]; state: DevLogState }[] = [];
  const stream = new DevLogStream({
    sandboxId: 'sb1',
    onChange: (lines, state) => seen.push({ lines, state }),
    probe: async (url) => {
      probes.push(url);
      return answer(url);
    },
    open: (url) => {
      const s = new FakeSource(url);
      sources.push(s);
      return s;
    },
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => {},
  });
  const last = () => seen[seen.length - 1];
  const shown = () => last().lines.map((l) => l.line);
  // fire runs the pending timer and lets the probe's promise settle.
  const fire = async () => {
    timers.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { stream, sources, timers, probes, last, shown, fire };
}

const base = '/api/sandboxes/sb1/logs?process=devserver';

describe('DevLogStream', () => {
  it('follows the dev server and resumes after a drop without duplicates', async () => {
    const t = setup(() => ({ state: 'running', lines: [{ seq: 2, time: 't2', stream: 'stdout', line: 'line 2' }, { seq: 3, time: 't3', stream: 'stdout', line: 'line 3' }] }));
    expect(t.sources[0].url).toBe(base);
    t.sources[0].open();
    t.sources[0].send(1);
    t.sources[0].send(2);
    t.sources[0].send(2); // a repeat on the same connection is dropped
    expect(t.shown()).toEqual(['line 1', 'line 2']);
    expect(t.last().state).toBe('live');

    t.sources[0].fail();
    expect(t.sources[0].closed).toBe(true);
    expect(t.last().state).toBe('connecting');
    await t.fire();
    // The probe asks for the last line seen on, to tell a restart.
    expect(t.probes).toEqual([`${base}&after=1&limit=0`]);
    expect(t.sources[1].url).toBe(`${base}&after=2`);
    t.sources[1].open();
    t.sources[1].send(3);
    expect(t.shown()).toEqual(['line 1', 'line 2', 'line 3']);
  });

  it('starts over when the sandbox restarted (sequence numbers begin again)', async () => {
    const t = setup(() => ({ state: 'running', lines: [{ seq: 1, time: 'later', stream: 'system', line: 'started' }] }));
    t.sources[0].open();
    for (const s of [1, 2, 3]) t.sources[0].send(s);
    t.sources[0].fail();
    await t.fire();
    // Line 3 is not the one we saw: everything is fetched again.
    expect(t.sources[1].url).toBe(base);
    expect(t.last().lines).toEqual([]);
    t.sources[1].open();
    t.sources[1].send(1, 'started', 'system');
    expect(t.shown()).toEqual(['started']);
  });

  it('resets when a new connection starts below the last line seen', () => {
    const t = setup(() => ({ state: 'running', lines: [] }));
    t.sources[0].open();
    t.sources[0].send(5);
    // Simulates a server that did not filter by ?after= for a restarted
    // sandbox: the first line numbered at or below 5 starts over.
    (t.stream as unknown as { connect: () => void }).connect();
    t.sources[1].send(1, 'again');
    t.sources[1].send(1, 'again'); // then repeats are dropped again
    expect(t.shown()).toEqual(['again']);
  });

  it('shows a stopped sandbox and comes back when woken', async () => {
    let state = 'stopped';
    const t = setup(() => ({ state, lines: [] }));
    t.sources[0].fail(); // the 409 sandbox_not_running, invisible to EventSource
    await t.fire();
    expect(t.last().state).toBe('stopped');
    expect(t.sources.length).toBe(1);
    expect(t.timers.length).toBe(1); // a slow re-probe is pending

    state = 'running';
    t.stream.wake();
    await new Promise((r) => setTimeout(r, 0));
    expect(t.sources.length).toBe(2);
    expect(t.last().state).toBe('connecting');
    t.sources[1].open();
    t.sources[1].send(1, 'qv-serve: serving');
    expect(t.last().state).toBe('live');
    expect(t.shown()).toEqual(['qv-serve: serving']);
  });

  it('retries when the probe fails and stops for good', async () => {
    let fail = true;
    const t = setup(() => {
      if (fail) throw new Error('network down');
      return { state: 'running', lines: [] };
    });
    t.sources[0].fail();
    await t.fire();
    expect(t.sources.length).toBe(1);
    expect(t.timers.length).toBe(1);
    fail = false;
    await t.fire();
    expect(t.sources.length).toBe(2);
    t.stream.stop();
    expect(t.sources[1].closed).toBe(true);
    t.sources[1].fail();
    expect(t.timers.length).toBe(0);
  });
});
