// The run event taxonomy (ARCHITECTURE.md) and the pure reducer that turns a
// run's event stream into what the conversation shows. Events are applied in
// sequence order and at most once: anything at or below lastSeq is ignored,
// so a replay after a reconnect or a reload never shows anything twice.

export interface RunEvent {
  type: string;
  seq: number;
  runId: string;
  time?: string;
  data: any;
}

export interface ToolRow {
  id?: string;
  action: string;
  tool: string;
  file?: string;
  linesAdded?: number;
  linesRemoved?: number;
  command?: string;
  exitCode?: number;
  output?: string;
  error?: string;
}

export type Item =
  | { kind: 'text'; text: string; streaming: boolean }
  | { kind: 'tool'; tool: ToolRow };

export interface Step {
  status: string;
  message: string;
  startedAt: number; // ms since epoch
  endedAt?: number;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  costUsd?: number;
}

export interface LogLine {
  stream: string;
  line: string;
}

export type RunState = 'running' | 'complete' | 'error';

export interface RunView {
  id: string;
  prompt: string;
  lastSeq: number;
  state: RunState;
  items: Item[];
  steps: Step[];
  logs: LogLine[];
  usage?: Usage;
  error?: { message: string; code: string };
  sandboxId?: string;
  previewUrl?: string;
  versionId?: string;
  startedAt?: number;
  endedAt?: number;
}

// Logs kept per run in memory; older lines scroll away.
export const maxLogLines = 2000;

export function newRun(id: string, prompt = ''): RunView {
  return { id, prompt, lastSeq: 0, state: 'running', items: [], steps: [], logs: [] };
}

export function isTerminal(type: string): boolean {
  return type === 'complete' || type === 'error';
}

function eventTime(ev: RunEvent): number {
  const t = ev.time ? Date.parse(ev.time) : NaN;
  return Number.isNaN(t) ? Date.now() : t;
}

// applyEvent returns the run with ev applied, or the same object if ev was
// already seen or belongs to another run.
export function applyEvent(run: RunView, ev: RunEvent): RunView {
  if (ev.runId && ev.runId !== run.id) return run;
  if (ev.seq <= run.lastSeq) return run;
  const at = eventTime(ev);
  const next: RunView = { ...run, lastSeq: ev.seq };
  if (next.startedAt === undefined) next.startedAt = at;
  const d = ev.data ?? {};
  switch (ev.type) {
    case 'message':
      if (d.type === 'user') {
        next.prompt = d.content ?? '';
      } else {
        next.items = appendText(run.items, d.content ?? '', !!d.delta);
      }
      break;
    case 'tool':
      next.items = [...finishText(run.items), { kind: 'tool', tool: d as ToolRow }];
      break;
    case 'progress': {
      const steps = run.steps.map((s, i) => (i === run.steps.length - 1 && s.endedAt === undefined ? { ...s, endedAt: at } : s));
      steps.push({ status: d.status, message: d.message ?? '', startedAt: at });
      next.steps = steps;
      if (d.sandboxId) next.sandboxId = d.sandboxId;
      if (d.previewUrl) next.previewUrl = d.previewUrl;
      break;
    }
    case 'log': {
      const logs = [...run.logs, { stream: d.stream ?? 'stdout', line: d.line ?? '' }];
      next.logs = logs.length > maxLogLines ? logs.slice(logs.length - maxLogLines) : logs;
      break;
    }
    case 'usage':
      next.usage = d as Usage;
      break;
    case 'complete':
      next.state = 'complete';
      next.endedAt = at;
      next.items = finishText(run.items);
      next.steps = endSteps(run.steps, at);
      if (d.sandboxId) next.sandboxId = d.sandboxId;
      if (d.previewUrl) next.previewUrl = d.previewUrl;
      if (d.versionId) next.versionId = d.versionId;
      break;
    case 'error':
      next.state = 'error';
      next.endedAt = at;
      next.items = finishText(run.items);
      next.steps = endSteps(run.steps, at);
      next.error = { message: d.message ?? 'The run failed.', code: d.code ?? 'error' };
      break;
    default:
      // Unknown types are future extensions of the taxonomy: skip them.
      break;
  }
  return next;
}

// appendText adds streamed text to the open text item, or closes it with the
// full text when the assistant's message ends (delta false).
function appendText(items: Item[], content: string, delta: boolean): Item[] {
  const last = items[items.length - 1];
  const open = last && last.kind === 'text' && last.streaming;
  if (delta) {
    if (open) return [...items.slice(0, -1), { kind: 'text', text: last.text + content, streaming: true }];
    return [...items, { kind: 'text', text: content, streaming: true }];
  }
  if (open) return [...items.slice(0, -1), { kind: 'text', text: content || last.text, streaming: false }];
  if (!content) return items;
  return [...items, { kind: 'text', text: content, streaming: false }];
}

function finishText(items: Item[]): Item[] {
  const last = items[items.length - 1];
  if (last && last.kind === 'text' && last.streaming) {
    return [...items.slice(0, -1), { ...last, streaming: false }];
  }
  return items;
}

function endSteps(steps: Step[], at: number): Step[] {
  return steps.map((s) => (s.endedAt === undefined ? { ...s, endedAt: at } : s));
}

export function applyEvents(run: RunView, evs: RunEvent[]): RunView {
  return evs.reduce(applyEvent, run);
}

// totalTokens sums the tokens a usage event reports.
export function totalTokens(u: Usage): number {
  return u.inputTokens + u.outputTokens + u.cacheCreationInputTokens + u.cacheReadInputTokens;
}
