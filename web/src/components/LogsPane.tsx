// The dev server's output, followed live from the sandbox (devlogs.ts), so
// it keeps coming after a run ends; below it, the notes of the latest run
// that are not the dev server's (build errors, refused network requests).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { DevLogStream, type DevLogLine, type DevLogState } from '../devlogs';
import type { LogLine } from '../events';

async function probe(url: string) {
  try {
    return await api.sandboxLogs(url);
  } catch (err) {
    // A deleted sandbox runs no dev server either.
    if (err instanceof ApiError && err.status === 404) return { state: 'deleted', lines: [] };
    throw err;
  }
}

export function LogsPane({ sandboxId, wakeKey, runNotes }: { sandboxId?: string; wakeKey: number; runNotes: LogLine[] }) {
  const [lines, setLines] = useState<DevLogLine[]>([]);
  const [state, setState] = useState<DevLogState>('connecting');
  const stream = useRef<DevLogStream | null>(null);
  const ref = useRef<HTMLPreElement>(null);

  useEffect(() => {
    setLines([]);
    setState('connecting');
    if (!sandboxId) return;
    const s = new DevLogStream({
      sandboxId,
      probe,
      onChange: (l, st) => {
        setLines(l);
        setState(st);
      },
    });
    stream.current = s;
    return () => {
      s.stop();
      stream.current = null;
    };
  }, [sandboxId]);
  // A run starting or ending may have woken the sandbox.
  useEffect(() => stream.current?.wake(), [wakeKey]);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length, runNotes.length]);

  if (!sandboxId) {
    return <div class="pane-empty muted">Dev-server output appears here once your app runs.</div>;
  }
  return (
    <div class="logs-pane">
      <div class={`logs-status logs-${state}`} role="status" aria-live="polite">
        {state === 'live' && <span>● Live: dev server output</span>}
        {state === 'connecting' && <span>Connecting to the dev server…</span>}
        {state === 'stopped' && <span>Sandbox stopped: the dev server is not running. Send a prompt to start it again.</span>}
      </div>
      <pre class="logs" ref={ref} aria-label="Dev server logs" tabIndex={0}>
        {lines.length === 0 && state === 'live' && <div class="muted">Waiting for output…</div>}
        {lines.map((l) => (
          <div key={l.seq} class={`log-line log-${l.stream}`} data-seq={l.seq}>
            {l.line}
          </div>
        ))}
        {runNotes.length > 0 && <div class="logs-heading">Notes of the latest run</div>}
        {runNotes.map((l, i) => (
          <div key={`n${i}`} class={`log-note log-${l.stream}`}>
            {l.line}
          </div>
        ))}
      </pre>
    </div>
  );
}
