// The project page: the conversation on the left (30%), the preview, code,
// terminal and logs on the right (70%), split by a draggable divider.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Project, type ProjectType, type Status } from '../api';
import { useConversation } from '../conversation';
import { ConversationPane } from '../components/Conversation';
import { PreviewPane } from '../components/PreviewPane';
import { CodePane } from '../components/CodePane';
import { TerminalPane } from '../components/TerminalPane';
import { LogsPane } from '../components/LogsPane';
import { StatusPill } from '../components/ui';

type Tab = 'preview' | 'code' | 'terminal' | 'logs';
const tabs: { id: Tab; label: string }[] = [
  { id: 'preview', label: 'Preview' },
  { id: 'code', label: 'Code' },
  { id: 'terminal', label: 'Terminal' },
  { id: 'logs', label: 'Logs' },
];

export function ProjectPage({ id }: { id: string; status: Status }) {
  const [project, setProject] = useState<Project | null>(null);
  const [ptype, setPtype] = useState<ProjectType | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [error, setError] = useState('');
  const [tab, setTab] = useState<Tab>('preview');
  const [previewKey, setPreviewKey] = useState(0);
  const [filesKey, setFilesKey] = useState(0);
  const [split, setSplit] = useState(() => Number(localStorage.getItem('qv-split')) || 30);

  const refresh = useCallback(async () => {
    try {
      setProject(await api.project(id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setNotFound(true);
      else setError((err as Error).message);
    }
  }, [id]);

  useEffect(() => {
    setNotFound(false);
    setProject(null);
    refresh();
  }, [refresh]);
  useEffect(() => {
    if (!project) return;
    api.projectTypes().then((ts) => setPtype(ts.find((t) => t.id === project.type) ?? null), () => {});
  }, [project?.type]);

  const conv = useConversation(id, () => {
    refresh();
    setPreviewKey((k) => k + 1);
    setFilesKey((k) => k + 1);
  });
  const latest = conv.runs[conv.runs.length - 1];
  const running = latest?.state === 'running';
  // While a run has not reached its preview, the sandbox is being created
  // or woken.
  const step = latest?.steps[latest.steps.length - 1]?.status;
  const startingSandbox = running && (step === 'creating' || step === 'initializing' || step === 'starting');

  // Keep a project that was running when loaded up to date.
  useEffect(() => {
    if (running && project && project.status !== 'running') refresh();
  }, [running]);

  if (notFound) {
    return (
      <div class="center-page">
        <div class="glass card-pad" role="alert">
          <h1>Project not found</h1>
          <p class="muted">It may have been deleted, or it belongs to someone else.</p>
          <a class="btn btn-primary" href="/">
            Back to projects
          </a>
        </div>
      </div>
    );
  }
  if (!project) return <div class="center-page muted">{error || 'Loading project…'}</div>;

  const sandboxId = latest?.sandboxId || project.sandboxId;
  const previewUrl = [...conv.runs].reverse().find((r) => r.previewUrl)?.previewUrl || project.previewUrl;
  // The dev server's own lines come live from the sandbox (LogsPane); the
  // run's log events repeat them while it waits for the app, so only its
  // other notes are kept.
  const runNotes = (latest?.logs ?? []).filter((l) => l.stream !== 'stdout' && l.stream !== 'stderr');
  const wakeKey = conv.runs.length * 2 + (running ? 1 : 0);

  return (
    <div class="project-page" style={{ '--split': `${split}%` }}>
      <div class="project-head">
        <h1 class="project-title">
          <span aria-hidden="true">{ptype?.emoji}</span> {project.name}
        </h1>
        <StatusPill status={running ? 'running' : project.status} />
        {error && (
          <span class="form-error small" role="alert">
            {error}
          </span>
        )}
      </div>
      <div class="split">
        <div class="split-left">
          <ConversationPane conv={conv} typeName={ptype?.name ?? 'app'} onError={setError} />
        </div>
        <Divider split={split} setSplit={setSplit} />
        <div class="split-right glass">
          <div class="tabs" role="tablist" aria-label="Project views">
            {tabs.map((t) => (
              <button
                key={t.id}
                role="tab"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                class={`tab${tab === t.id ? ' active' : ''}`}
                onClick={() => setTab(t.id)}
                onKeyDown={(e) => {
                  const i = tabs.findIndex((x) => x.id === tab);
                  if (e.key === 'ArrowRight') setTab(tabs[(i + 1) % tabs.length].id);
                  if (e.key === 'ArrowLeft') setTab(tabs[(i + tabs.length - 1) % tabs.length].id);
                }}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div class="tab-panels">
            <div role="tabpanel" id="panel-preview" aria-labelledby="tab-preview" hidden={tab !== 'preview'} class="panel">
              <PreviewPane
                projectId={id}
                port={ptype?.port}
                previewUrl={previewUrl}
                sandboxId={sandboxId}
                reloadKey={previewKey}
                starting={startingSandbox}
                running={running}
                hasRuns={conv.runs.length > 0}
              />
            </div>
            <div role="tabpanel" id="panel-code" aria-labelledby="tab-code" hidden={tab !== 'code'} class="panel">
              {tab === 'code' && <CodePane projectId={id} reloadKey={filesKey} hasSandbox={!!sandboxId} onSaved={() => setPreviewKey((k) => k + 1)} />}
            </div>
            <div role="tabpanel" id="panel-terminal" aria-labelledby="tab-terminal" hidden={tab !== 'terminal'} class="panel">
              {tab === 'terminal' && <TerminalPane sandboxId={sandboxId} />}
            </div>
            <div role="tabpanel" id="panel-logs" aria-labelledby="tab-logs" hidden={tab !== 'logs'} class="panel">
              <LogsPane sandboxId={sandboxId} wakeKey={wakeKey} runNotes={runNotes} />
            </div>
          </div>
        </div>
      </div>
    </div>
  );
}

// Divider resizes the split with the mouse or the arrow keys.
function Divider({ split, setSplit }: { split: number; setSplit: (n: number) => void }) {
  const dragging = useRef(false);
  const set = (n: number) => {
    const v = Math.min(60, Math.max(20, Math.round(n)));
    setSplit(v);
    localStorage.setItem('qv-split', String(v));
  };
  useEffect(() => {
    const move = (e: PointerEvent) => {
      if (!dragging.current) return;
      const host = document.querySelector('.split') as HTMLElement | null;
      if (!host) return;
      const r = host.getBoundingClientRect();
      set(((e.clientX - r.left) / r.width) * 100);
    };
    const up = () => {
      dragging.current = false;
      document.body.classList.remove('resizing');
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    return () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
  }, []);
  return (
    <div
      class="divider"
      role="separator"
      aria-orientation="vertical"
      aria-label="Resize panels"
      aria-valuenow={split}
      aria-valuemin={20}
      aria-valuemax={60}
      tabIndex={0}
      onPointerDown={(e) => {
        e.preventDefault();
        dragging.current = true;
        document.body.classList.add('resizing');
      }}
      onKeyDown={(e) => {
        if (e.key === 'ArrowLeft') set(split - 2);
        if (e.key === 'ArrowRight') set(split + 2);
      }}
    />
  );
}
