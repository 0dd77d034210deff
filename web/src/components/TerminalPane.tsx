// The Terminal tab: xterm.js on the sandbox's PTY over a WebSocket. Binary
// frames carry raw terminal bytes both ways; a text frame reports resizes.
import { useEffect, useRef, useState } from 'preact/hooks';

export function TerminalPane({ sandboxId }: { sandboxId?: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!sandboxId || !host.current) return;
    let disposed = false;
    let cleanup = () => {};
    setState('connecting');
    Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit'), import('@xterm/xterm/css/xterm.css')]).then(([{ Terminal }, { FitAddon }]) => {
      if (disposed || !host.current) return;
      const dark = document.documentElement.dataset.theme === 'dark';
      const term = new Terminal({
        cursorBlink: true,
        fontFamily: 'ui-monospace, "SF Mono", "JetBrains Mono", Menlo, Consolas, monospace',
        fontSize: 13,
        theme: dark ? { background: '#0d1117', foreground: '#e6edf3' } : { background: '#fbfbfd', foreground: '#1f2328', cursor: '#1f2328', selectionBackground: '#c8d6f5' },
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(host.current);
      fit.fit();
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(`${proto}//${location.host}/api/sandboxes/${encodeURIComponent(sandboxId)}/terminal`);
      ws.binaryType = 'arraybuffer';
      const enc = new TextEncoder();
      const sendSize = () => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
      };
      ws.onopen = () => {
        setState('open');
        sendSize();
        term.focus();
      };
      ws.onmessage = (m) => {
        if (typeof m.data === 'string') term.write(m.data);
        else term.write(new Uint8Array(m.data as ArrayBuffer));
      };
      ws.onclose = () => {
        if (!disposed) setState('closed');
      };
      const input = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
      const resized = term.onResize(sendSize);
      const ro = new ResizeObserver(() => {
        try {
          fit.fit();
        } catch {
          // hidden tab: nothing to fit until it shows again
        }
      });
      ro.observe(host.current);
      cleanup = () => {
        ro.disconnect();
        input.dispose();
        resized.dispose();
        ws.close();
        term.dispose();
      };
    });
    return () => {
      disposed = true;
      cleanup();
    };
  }, [sandboxId, attempt]);

  if (!sandboxId) {
    return <div class="pane-empty muted">The terminal opens once the project has a sandbox: send a first message.</div>;
  }
  return (
    <div class="terminal">
      {state !== 'open' && (
        <div class="terminal-bar" role="status">
          {state === 'connecting' ? 'Connecting to the sandbox…' : 'Disconnected.'}
          {state === 'closed' && (
            <button class="btn btn-sm" onClick={() => setAttempt((a) => a + 1)}>
              Reconnect
            </button>
          )}
        </div>
      )}
      <div class="terminal-host" ref={host} aria-label="Terminal" />
    </div>
  );
}
