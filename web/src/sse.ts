// RunStream follows one run's SSE stream and survives disconnects: the
// browser's EventSource retries by itself and sends Last-Event-ID, and when
// it gives up (closed state) we reopen with ?after=<last seq seen>. Events
// at or below the last seen sequence are dropped, so a reconnect that
// overlaps never delivers an event twice. The stream stops at the run's
// terminal event.

import { isTerminal, type RunEvent } from './events';

export interface EventSourceLike {
  readyState: number;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export const eventTypes = ['progress', 'message', 'tool', 'log', 'usage', 'complete', 'error'];

const CLOSED = 2;

export interface RunStreamOptions {
  runId: string;
  after?: number;
  onEvent: (ev: RunEvent) => void;
  onState?: (connected: boolean) => void;
  open?: EventSourceFactory;
  // Delay before reopening a stream the browser gave up on.
  retryMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export class RunStream {
  lastSeq: number;
  done = false;
  private es: EventSourceLike | null = null;
  private timer: unknown = null;
  private stopped = false;
  private readonly opts: RunStreamOptions;

  constructor(opts: RunStreamOptions) {
    this.opts = opts;
    this.lastSeq = opts.after ?? 0;
    this.connect();
  }

  url(): string {
    const base = `/api/runs/${encodeURIComponent(this.opts.runId)}/events`;
    return this.lastSeq > 0 ? `${base}?after=${this.lastSeq}` : base;
  }

  private connect() {
    if (this.stopped) return;
    const open = this.opts.open ?? ((u: string) => new EventSource(u) as unknown as EventSourceLike);
    const es = open(this.url());
    this.es = es;
    const onMessage = (m: MessageEvent) => {
      if (es !== this.es) return;
      let ev: RunEvent;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return; // not one of ours (e.g. a comment-only frame)
      }
      if (typeof ev.seq !== 'number' || ev.seq <= this.lastSeq) return;
      this.lastSeq = ev.seq;
      this.opts.onState?.(true);
      this.opts.onEvent(ev);
      if (isTerminal(ev.type)) {
        this.done = true;
        this.stop();
      }
    };
    for (const t of eventTypes) es.addEventListener(t, onMessage);
    es.addEventListener('open', () => this.opts.onState?.(true));
    es.onerror = () => {
      if (es !== this.es || this.stopped) return;
      this.opts.onState?.(false);
      if (es.readyState === CLOSED) {
        // The browser will not retry (e.g. an HTTP error); we do, from
        // where we are.
        es.close();
        this.es = null;
        const set = this.opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
        this.timer = set(() => {
          this.timer = null;
          this.connect();
        }, this.opts.retryMs ?? 1500);
      }
    };
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) {
      (this.opts.clearTimer ?? ((t) => clearTimeout(t as number)))(this.timer);
      this.timer = null;
    }
    this.es?.close();
    this.es = null;
  }
}
