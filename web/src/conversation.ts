// useConversation restores a project's conversation from its runs and keeps
// it live: finished runs are replayed one at a time (each stream closes at
// its terminal event), then a running one is followed as it streams.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api';
import { applyEvent, isTerminal, newRun, type RunView } from './events';
import { RunStream } from './sse';

export interface Conversation {
  runs: RunView[];
  loading: boolean;
  error: string;
  connected: boolean;
  send: (prompt: string) => Promise<void>;
  cancel: () => Promise<void>;
}

export function useConversation(projectId: string, onRunEnd: () => void): Conversation {
  const [runs, setRuns] = useState<RunView[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [connected, setConnected] = useState(true);
  const streams = useRef<Set<RunStream>>(new Set());
  const alive = useRef(true);
  const onEnd = useRef(onRunEnd);
  onEnd.current = onRunEnd;

  const follow = useCallback(
    (runId: string) =>
      new Promise<void>((resolve) => {
        if (!alive.current) return resolve();
        const s: RunStream = new RunStream({
          runId,
          onEvent: (ev) => {
            setRuns((rs) => rs.map((r) => (r.id === runId ? applyEvent(r, ev) : r)));
            if (isTerminal(ev.type)) {
              streams.current.delete(s);
              onEnd.current();
              resolve();
            }
          },
          onState: setConnected,
        });
        streams.current.add(s);
      }),
    [],
  );

  useEffect(() => {
    alive.current = true;
    setRuns([]);
    setLoading(true);
    (async () => {
      try {
        const list = await api.runs(projectId);
        if (!alive.current) return;
        setRuns(list.map((r) => newRun(r.id, r.prompt)));
        setLoading(false);
        for (const r of list) await follow(r.id);
      } catch (err) {
        setError((err as Error).message);
        setLoading(false);
      }
    })();
    return () => {
      alive.current = false;
      streams.current.forEach((s) => s.stop());
      streams.current.clear();
    };
  }, [projectId, follow]);

  const send = useCallback(
    async (prompt: string) => {
      setError('');
      const { runId } = await api.prompt(projectId, prompt);
      setRuns((rs) => [...rs, newRun(runId, prompt.trim())]);
      follow(runId);
    },
    [projectId, follow],
  );

  const cancel = useCallback(async () => {
    const running = runs.filter((r) => r.state === 'running');
    for (const r of running) await api.cancel(r.id).catch((err) => setError((err as Error).message));
  }, [runs]);

  return { runs, loading, error, connected, send, cancel };
}
