// Dev-server and command output, live.
import { useEffect, useRef } from 'preact/hooks';
import type { LogLine } from '../events';

export function LogsPane({ logs }: { logs: LogLine[] }) {
  const ref = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [logs.length]);
  if (logs.length === 0) {
    return <div class="pane-empty muted">Dev-server output appears here while your app runs.</div>;
  }
  return (
    <pre class="logs" ref={ref} aria-label="Dev server logs" tabIndex={0}>
      {logs.map((l, i) => (
        <div key={i} class={`log-${l.stream}`}>
          {l.line}
        </div>
      ))}
    </pre>
  );
}
