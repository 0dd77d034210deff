// The left pane: the conversation of all runs and the prompt box.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Item, RunView, Step, ToolRow } from '../events';
import { totalTokens } from '../events';
import { Elapsed, Spinner } from './ui';
import type { Conversation as Conv } from '../conversation';

const stepLabels: Record<string, string> = {
  creating: 'Creating sandbox',
  initializing: 'Preparing workspace',
  generating: 'Thinking',
  writing: 'Writing files',
  starting: 'Starting dev server',
  preview: 'Preview ready',
  complete: 'Done',
};

export function ConversationPane({ conv, typeName, onError }: { conv: Conv; typeName: string; onError: (m: string) => void }) {
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const listRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const running = conv.runs.some((r) => r.state === 'running');

  // Follow the stream while the reader is at the bottom.
  useEffect(() => {
    const el = listRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  const send = async (text: string) => {
    if (!text.trim() || sending || running) return;
    setSending(true);
    try {
      await conv.send(text);
      setDraft('');
      stick.current = true;
    } catch (err) {
      onError((err as Error).message);
    } finally {
      setSending(false);
    }
  };

  return (
    <section class="conversation glass" aria-label="Conversation">
      <div
        class="messages"
        ref={listRef}
        role="log"
        aria-live="polite"
        aria-label="Messages"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {conv.loading && <p class="muted pad">Loading conversation…</p>}
        {!conv.loading && conv.runs.length === 0 && (
          <div class="conv-empty">
            <div class="empty-emoji" aria-hidden="true">
              💬
            </div>
            <h2>Start the conversation</h2>
            <p class="muted">Describe the {typeName.toLowerCase()} you want. Each message is a new version you can refine.</p>
          </div>
        )}
        {conv.runs.map((r) => (
          <RunBlock key={r.id} run={r} onRetry={() => send(r.prompt)} canRetry={!running} />
        ))}
      </div>
      {conv.error && (
        <p class="form-error pad" role="alert">
          {conv.error}
        </p>
      )}
      {!conv.connected && running && (
        <p class="reconnecting pad" role="status">
          Reconnecting…
        </p>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send(draft);
        }}
      >
        <textarea
          aria-label="Message"
          placeholder={running ? 'Working on it…' : 'Ask for a change…'}
          rows={2}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send(draft);
            }
          }}
        />
        {running ? (
          <button type="button" class="btn btn-danger" onClick={() => conv.cancel()}>
            Cancel
          </button>
        ) : (
          <button type="submit" class="btn btn-primary" disabled={!draft.trim() || sending} aria-label="Send">
            Send
          </button>
        )}
      </form>
    </section>
  );
}

function RunBlock({ run, onRetry, canRetry }: { run: RunView; onRetry: () => void; canRetry: boolean }) {
  return (
    <article class="run" data-run-id={run.id} data-state={run.state}>
      {run.prompt && (
        <div class="msg msg-user">
          <div class="bubble">{run.prompt}</div>
        </div>
      )}
      {run.steps.length > 0 && <Steps steps={run.steps} running={run.state === 'running'} />}
      {run.items.map((it, i) => (
        <ItemView key={i} item={it} />
      ))}
      {run.state === 'running' && run.items.length === 0 && run.steps.length === 0 && (
        <div class="msg msg-assistant">
          <Spinner label="Starting" /> <span class="muted">Starting…</span>
        </div>
      )}
      {run.error && (
        <div class={`run-error${run.error.code === 'cancelled' ? ' cancelled' : ''}`} role="alert">
          <div>
            <strong>{run.error.code === 'cancelled' ? 'Cancelled' : 'Something went wrong'}</strong>
            <p>{run.error.message}</p>
          </div>
          {canRetry && (
            <button class="btn btn-sm" onClick={onRetry}>
              Retry
            </button>
          )}
        </div>
      )}
      {run.usage && (
        <div class="usage muted small" title="Tokens used by this run">
          {totalTokens(run.usage).toLocaleString()} tokens · {run.usage.inputTokens.toLocaleString()} in · {run.usage.outputTokens.toLocaleString()} out
          {run.usage.costUsd !== undefined && <> · ${run.usage.costUsd.toFixed(4)}</>}
          {run.startedAt && run.endedAt && <> · {Math.round((run.endedAt - run.startedAt) / 1000)}s</>}
        </div>
      )}
    </article>
  );
}

function Steps({ steps, running }: { steps: Step[]; running: boolean }) {
  const [open, setOpen] = useState(false);
  const current = steps[steps.length - 1];
  const shown = running || open ? steps : [];
  return (
    <div class="steps">
      <button class="steps-head" onClick={() => setOpen(!open)} aria-expanded={running || open}>
        {running ? <Spinner label={current.message} /> : <span class="check" aria-hidden="true">✓</span>}
        <span class="step-current">{running ? current.message || stepLabels[current.status] : `${steps.length} steps`}</span>
        <Elapsed start={steps[0].startedAt} end={running ? undefined : current.endedAt} />
      </button>
      {shown.length > 0 && (
        <ol class="step-list">
          {shown.map((s, i) => (
            <li key={i} class={`step step-${s.status}${s.endedAt === undefined ? ' active' : ''}`} data-status={s.status}>
              {s.endedAt === undefined && running ? <Spinner label={s.message} /> : <span class="dot" aria-hidden="true" />}
              <span>{s.message || stepLabels[s.status] || s.status}</span>
              <Elapsed start={s.startedAt} end={s.endedAt ?? (running ? undefined : s.startedAt)} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function ItemView({ item }: { item: Item }) {
  if (item.kind === 'text') {
    return (
      <div class="msg msg-assistant">
        <div class="assistant-text">
          {item.text}
          {item.streaming && <span class="caret" aria-hidden="true" />}
        </div>
      </div>
    );
  }
  return <ToolView tool={item.tool} />;
}

const actionIcons: Record<string, string> = { create: '+', edit: '~', delete: '−', read: '›', run: '▶', list: '≡' };

function ToolView({ tool: t }: { tool: ToolRow }) {
  const [open, setOpen] = useState(false);
  const isCommand = t.command !== undefined && t.command !== '';
  const failed = (t.exitCode !== undefined && t.exitCode !== 0) || !!t.error;
  const label = isCommand ? t.command : t.file || t.tool;
  return (
    <div class={`tool${failed ? ' tool-failed' : ''}`} data-action={t.action}>
      <button class="tool-row" onClick={() => setOpen(!open)} aria-expanded={open} disabled={!t.output && !t.error}>
        <span class="tool-icon" aria-hidden="true">
          {actionIcons[t.action] ?? '•'}
        </span>
        <span class="tool-action">{t.action}</span>
        <code class="tool-target">{label}</code>
        {!!t.linesAdded && <span class="added">+{t.linesAdded}</span>}
        {!!t.linesRemoved && <span class="removed">−{t.linesRemoved}</span>}
        {t.exitCode !== undefined && <span class={t.exitCode === 0 ? 'exit ok' : 'exit bad'}>exit {t.exitCode}</span>}
      </button>
      {open && (t.output || t.error) && <pre class="tool-output">{t.error || t.output}</pre>}
    </div>
  );
}
