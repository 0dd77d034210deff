// New project: pick a type from the grid, then describe the app.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type ProjectType, type Status } from '../api';
import { navigate } from '../router';

// nameFromPrompt makes a short project name from the first words.
export function nameFromPrompt(prompt: string): string {
  const words = prompt.trim().split(/\s+/).slice(0, 6).join(' ');
  const name = words.length > 60 ? words.slice(0, 60) + '…' : words;
  return name ? name[0].toUpperCase() + name.slice(1) : 'Untitled project';
}

export function NewProject({ status }: { status: Status }) {
  const [types, setTypes] = useState<ProjectType[] | null>(null);
  const [chosen, setChosen] = useState<ProjectType | null>(null);
  const [prompt, setPrompt] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const promptRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    api.projectTypes().then(setTypes, (err) => setError(err.message));
  }, []);
  useEffect(() => {
    if (chosen) promptRef.current?.focus();
  }, [chosen]);

  const create = async () => {
    if (!chosen || !prompt.trim() || busy) return;
    setBusy(true);
    setError('');
    try {
      const p = await api.createProject(name.trim() || nameFromPrompt(prompt), chosen.id);
      await api.prompt(p.id, prompt);
      navigate(`/p/${encodeURIComponent(p.id)}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  const model = status.model.configured ? status.model.model || status.model.provider || 'AI agent' : 'No model configured';

  return (
    <section class="new-project" aria-labelledby="new-title">
      <div class="section-head">
        <div>
          <h1 id="new-title">What are we building?</h1>
          <p class="muted">Pick a starting point. You can change everything later by asking.</p>
        </div>
      </div>
      {!types && !error && <p class="muted">Loading project types…</p>}
      {types && (
        <div class="type-grid" role="radiogroup" aria-label="Project type">
          {types.map((t) => (
            <button
              key={t.id}
              class={`type-card glass${chosen?.id === t.id ? ' selected' : ''}`}
              role="radio"
              aria-checked={chosen?.id === t.id}
              data-type={t.id}
              onClick={() => setChosen(t)}
            >
              <span class="type-emoji" aria-hidden="true">
                {t.emoji}
              </span>
              <span class="type-name">{t.name}</span>
              <span class="type-desc">{t.description}</span>
              <span class="agent-badge" title={t.agent ? `${t.agent.description} (${model})` : model}>
                {t.agent?.badge ?? model}
              </span>
            </button>
          ))}
        </div>
      )}
      {chosen && (
        <form
          class="prompt-panel glass"
          onSubmit={(e) => {
            e.preventDefault();
            create();
          }}
        >
          <label class="prompt-label" for="new-prompt">
            Describe your {chosen.name.toLowerCase()}
          </label>
          <textarea
            id="new-prompt"
            ref={promptRef}
            rows={4}
            placeholder="A landing page for a coffee roastery with a menu and opening hours…"
            value={prompt}
            onInput={(e) => setPrompt(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                create();
              }
            }}
          />
          <div class="prompt-row">
            <input class="name-input" aria-label="Project name (optional)" placeholder="Project name (optional)" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
            <span class="muted small hint">Enter to create · Shift+Enter for a new line</span>
            <button class="btn btn-primary" type="submit" disabled={busy || !prompt.trim()}>
              {busy ? 'Creating…' : 'Create project'}
            </button>
          </div>
          {error && (
            <p class="form-error" role="alert">
              {error}
            </p>
          )}
        </form>
      )}
      {error && !chosen && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
