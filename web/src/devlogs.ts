// DevLogStream follows a sandbox's dev-server output live
// (GET /api/sandboxes/{id}/logs?process=devserver as SSE), independently of
// runs, so the Logs tab keeps showing it after a run ends.
//
// Reconnects are ours, never the browser's: an answer like 409
// sandbox_not_running is invisible to EventSource, and a browser retry with
// Last-Event-ID would silently skip the first lines of a sandbox that
// restarted meanwhile (its sequence numbers start again at 1). So on any
// error the stream is closed and, after a pause, a JSON probe of the same
// endpoint tells whether the sandbox runs and whether its line numbered like
// the last one we saw is still that line: a stopped sandbox shows as such,
// and a missing or different line means a restart (or that much output
// since), which resets what is shown. Lines at or below the last seen number
// are dropped, so no line is shown twice.

import type { EventSourceFactory, EventSourceLike } from './sse';

export interface DevLogLine {
  seq: number;
  time?: string;
  stream: string;
  line: string;
}

// connecting: opening or reopening the stream; live: following it;
// stopped: the sandbox is not running, so there is no dev server to follow.
export type DevLogState = 'connecting' | 'live' | 'stopped';

export interface DevLogProbe {
  state: string;
  lines: DevLogLine[];
}

export interface DevLogOptions {
  sandboxId: string;
  onChange: (lines: DevLogLine[], state: DevLogState) => void;
  // probe fetches url (the endpoint without the event-stream Accept
  // header) and returns its JSON answer.
  probe: (url: string) => Promise<DevLogProbe>;
  open?: EventSourceFactory;
  // Pause before reconnecting after an error, and between probes of a
  // stopped sandbox.
  retryMs?: number;
  stoppedRetryMs?: number;
  maxLines?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export const maxDevLogLines = 2000;

export class DevLogStream {
  lastSeq = 0;
  lines: DevLogLine[] = [];
  state: DevLogState = 'connecting';
  private es: EventSourceLike | null = null;
  private timer: unknown = null;
  private stopped = false;
  private probing = false;
  // Whether the current connection has delivered a line yet.
  private fresh = true;
  private readonly opts: DevLogOptions;

  constructor(opts: DevLogOptions) {
    this.opts = opts;
    this.connect();
  }

  private base(): string {
    return `/api/sandboxes/${encodeURIComponent(this.opts.sandboxId)}/logs?process=devserver`;
  }

  url(): string {
    return this.lastSeq > 0 ? `${this.base()}&after=${this.lastSeq}` : this.base();
  }

  // probeURL asks for the lines from the last one seen on (limit=0: all of
  // them), or just the latest one when nothing was seen.
  probeURL(): string {
    return this.lastSeq > 0 ? `${this.base()}&after=${this.lastSeq - 1}&limit=0` : `${this.base()}&limit=1`;
  }

  // wake reconnects at once if the stream is down, e.g. when a run starts
  // or ends and the sandbox may be running again.
  wake() {
    if (this.stopped || this.es) return;
    this.cancelTimer();
    void this.reconnect();
  }

  stop() {
    this.stopped = true;
    this.cancelTimer();
    this.es?.close();
    this.es = null;
  }

  private emit(state: DevLogState) {
    this.state = state;
    this.opts.onChange(this.lines, state);
  }

  private connect() {
    if (this.stopped) return;
    const open = this.opts.open ?? ((u: string) => new EventSource(u) as unknown as EventSourceLike);
    const es = open(this.url());
    this.es = es;
    this.fresh = true;
    es.addEventListener('open', () => {
      if (es === this.es && this.state !== 'live') this.emit('live');
    });
    es.addEventListener('log', (m: MessageEvent) => {
      if (es !== this.es) return;
      let l: DevLogLine;
      try {
        l = JSON.parse(m.data);
      } catch {
        return; // not one of ours
      }
      if (typeof l.seq !== 'number') return;
      if (l.seq <= this.lastSeq) {
        // The first line of a new connection numbered at or below what we
        // have means the sandbox restarted: its output starts over.
        if (!this.fresh) return;
        this.lines = [];
      }
      this.fresh = false;
      this.lastSeq = l.seq;
      const max = this.opts.maxLines ?? maxDevLogLines;
      const lines = [...this.lines, l];
      this.lines = lines.length > max ? lines.slice(lines.length - max) : lines;
      this.emit('live');
    });
    es.onerror = () => {
      if (es !== this.es || this.stopped) return;
      es.close();
      this.es = null;
      if (this.state !== 'stopped') this.emit('connecting');
      this.schedule(this.opts.retryMs ?? 1500);
    };
  }

  private schedule(ms: number) {
    const set = this.opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.timer = set(() => {
      this.timer = null;
      void this.reconnect();
    }, ms);
  }

  private cancelTimer() {
    if (this.timer !== null) {
      (this.opts.clearTimer ?? ((t) => clearTimeout(t as number)))(this.timer);
      this.timer = null;
    }
  }

  private async reconnect() {
    if (this.stopped || this.probing) return;
    this.probing = true;
    let p: DevLogProbe;
    try {
      p = await this.opts.probe(this.probeURL());
    } catch {
      if (!this.stopped && !this.es && this.timer === null) this.schedule(this.opts.retryMs ?? 1500);
      return;
    } finally {
      this.probing = false;
    }
    if (this.stopped || this.es || this.timer !== null) return;
    if (p.state !== 'running') {
      this.emit('stopped');
      this.schedule(this.opts.stoppedRetryMs ?? 10000);
      return;
    }
    if (this.lastSeq > 0) {
      const mine = this.lines[this.lines.length - 1];
      const theirs = p.lines[0];
      const same = mine && theirs && theirs.seq === mine.seq && theirs.line === mine.line && theirs.time === mine.time;
      if (!same) {
        this.lastSeq = 0;
        this.lines = [];
      }
    }
    this.emit('connecting');
    this.connect();
  }
}
