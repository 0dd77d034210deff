import { describe, expect, it } from 'vitest';
import { applyEvent, applyEvents, newRun, type RunEvent } from './events';

const ev = (seq: number, type: string, data: any): RunEvent => ({
  seq,
  type,
  runId: 'r1',
  time: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
  data,
});

const script: RunEvent[] = [
  ev(1, 'message', { type: 'user', content: 'a calculator' }),
  ev(2, 'progress', { status: 'creating', message: 'Creating sandbox' }),
  ev(3, 'progress', { status: 'generating', message: 'Thinking', sandboxId: 'sb1' }),
  ev(4, 'message', { type: 'assistant', content: "I'll build ", delta: true }),
  ev(5, 'message', { type: 'assistant', content: 'it.', delta: true }),
  ev(6, 'message', { type: 'assistant', content: "I'll build it." }),
  ev(7, 'tool', { action: 'create', tool: 'write_file', file: 'index.html', linesAdded: 3 }),
  ev(8, 'tool', { action: 'run', tool: 'run_command', command: 'ls', exitCode: 0, output: 'index.html' }),
  ev(9, 'log', { stream: 'stdout', line: 'listening on 3000' }),
  ev(10, 'usage', { inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }),
  ev(11, 'message', { type: 'assistant', content: 'Done.', delta: true }),
  ev(12, 'progress', { status: 'preview', message: 'Preview ready', previewUrl: 'http://3000-sb1.preview.localhost/' }),
  ev(13, 'complete', { success: true, sandboxId: 'sb1', previewUrl: 'http://3000-sb1.preview.localhost/', versionId: 'v1' }),
];

describe('applyEvent', () => {
  it('builds the conversation of a run', () => {
    const run = applyEvents(newRun('r1'), script);
    expect(run.prompt).toBe('a calculator');
    expect(run.state).toBe('complete');
    expect(run.lastSeq).toBe(13);
    expect(run.items).toEqual([
      { kind: 'text', text: "I'll build it.", streaming: false },
      { kind: 'tool', tool: script[6].data },
      { kind: 'tool', tool: script[7].data },
      { kind: 'text', text: 'Done.', streaming: false },
    ]);
    expect(run.steps.map((s) => s.status)).toEqual(['creating', 'generating', 'preview']);
    expect(run.steps.every((s) => s.endedAt !== undefined)).toBe(true);
    expect(run.steps[0].endedAt! - run.steps[0].startedAt).toBe(1000);
    expect(run.logs).toEqual([{ stream: 'stdout', line: 'listening on 3000' }]);
    expect(run.usage?.outputTokens).toBe(5);
    expect(run.sandboxId).toBe('sb1');
    expect(run.previewUrl).toBe('http://3000-sb1.preview.localhost/');
    expect(run.versionId).toBe('v1');
  });

  it('streams text deltas into one open message', () => {
    const run = applyEvents(newRun('r1'), script.slice(0, 5));
    expect(run.items).toEqual([{ kind: 'text', text: "I'll build it.", streaming: true }]);
    expect(run.state).toBe('running');
  });

  it('ignores events it has already applied, so replays show nothing twice', () => {
    const once = applyEvents(newRun('r1'), script);
    // A reconnect that overlaps: events 5..13 again, then everything again.
    const twice = applyEvents(applyEvents(once, script.slice(4)), script);
    expect(twice).toBe(once);
  });

  it('gives the same view for a replay split at any point', () => {
    const whole = applyEvents(newRun('r1'), script);
    for (let cut = 0; cut <= script.length; cut++) {
      const first = applyEvents(newRun('r1'), script.slice(0, cut));
      // The second connection resends from a little before the cut.
      const second = applyEvents(first, script.slice(Math.max(0, cut - 2)));
      expect(second).toEqual(whole);
    }
  });

  it('ends a failed run with its error and closes open steps', () => {
    const run = applyEvents(newRun('r1'), [
      ev(1, 'message', { type: 'user', content: 'x' }),
      ev(2, 'progress', { status: 'generating', message: 'Thinking' }),
      ev(3, 'message', { type: 'assistant', content: 'Work', delta: true }),
      ev(4, 'error', { message: 'The run was cancelled.', code: 'cancelled' }),
    ]);
    expect(run.state).toBe('error');
    expect(run.error).toEqual({ message: 'The run was cancelled.', code: 'cancelled' });
    expect(run.items).toEqual([{ kind: 'text', text: 'Work', streaming: false }]);
    expect(run.steps[0].endedAt).toBeDefined();
  });

  it('skips events of other runs and unknown types', () => {
    const r = newRun('r1');
    expect(applyEvent(r, { ...ev(1, 'message', { type: 'user', content: 'x' }), runId: 'r2' })).toBe(r);
    const next = applyEvent(r, ev(1, 'future-type', {}));
    expect(next.lastSeq).toBe(1);
    expect(next.items).toEqual([]);
  });
});
