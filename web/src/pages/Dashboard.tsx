// The dashboard: the user's projects as cards, to open, rename or delete.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Project, type ProjectType } from '../api';
import { navigate, onLinkClick } from '../router';
import { StatusPill, timeAgo } from '../components/ui';

export function Dashboard() {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [types, setTypes] = useState<Record<string, ProjectType>>({});
  const [error, setError] = useState('');

  const load = async () => {
    try {
      const [ps, ts] = await Promise.all([api.projects(), api.projectTypes()]);
      setProjects(ps);
      setTypes(Object.fromEntries(ts.map((t) => [t.id, t])));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => {
    load();
  }, []);

  return (
    <section class="dashboard" aria-labelledby="dash-title">
      <div class="section-head">
        <div>
          <h1 id="dash-title">Your projects</h1>
          <p class="muted">Everything you have built, live in its own sandbox.</p>
        </div>
        <a class="btn btn-primary" href="/new" onClick={(e) => onLinkClick(e as unknown as MouseEvent, '/new')}>
          + New project
        </a>
      </div>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      {projects === null && !error && <p class="muted">Loading projects…</p>}
      {projects?.length === 0 && (
        <div class="empty glass">
          <div class="empty-emoji" aria-hidden="true">
            ✨
          </div>
          <h2>Nothing here yet</h2>
          <p class="muted">Describe an app in a sentence and watch it being built.</p>
          <a class="btn btn-primary" href="/new" onClick={(e) => onLinkClick(e as unknown as MouseEvent, '/new')}>
            Start your first project
          </a>
        </div>
      )}
      {projects && projects.length > 0 && (
        <ul class="card-grid" aria-label="Projects">
          {projects.map((p) => (
            <ProjectCard
              key={p.id}
              project={p}
              type={types[p.type]}
              onChanged={(np) => setProjects(projects.map((x) => (x.id === np.id ? np : x)))}
              onDeleted={() => setProjects(projects.filter((x) => x.id !== p.id))}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function ProjectCard({
  project: p,
  type,
  onChanged,
  onDeleted,
}: {
  project: Project;
  type?: ProjectType;
  onChanged: (p: Project) => void;
  onDeleted: () => void;
}) {
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(p.name);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState('');
  const href = `/p/${encodeURIComponent(p.id)}`;
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (renaming) {
      nameInput.current?.focus();
      nameInput.current?.select();
    }
  }, [renaming]);

  const rename = async (e: Event) => {
    e.preventDefault();
    try {
      onChanged(await api.renameProject(p.id, name));
      setRenaming(false);
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const remove = async () => {
    try {
      await api.deleteProject(p.id);
      onDeleted();
    } catch (err) {
      setError((err as Error).message);
      setConfirming(false);
    }
  };

  return (
    <li class="project-card glass" data-project-id={p.id}>
      <a class="thumb" href={href} onClick={(e) => onLinkClick(e as unknown as MouseEvent, href)} aria-label={`Open ${p.name}`}>
        {p.thumbnailUrl ? (
          <img src={p.thumbnailUrl} alt={`Preview of ${p.name}`} loading="lazy" />
        ) : (
          <span class="thumb-empty" aria-hidden="true">
            {type?.emoji ?? '📦'}
          </span>
        )}
      </a>
      <div class="card-body">
        {renaming ? (
          <form class="rename-form" onSubmit={rename}>
            <input
              aria-label="Project name"
              value={name}
              maxLength={100}
              onInput={(e) => setName(e.currentTarget.value)}
              onKeyDown={(e) => e.key === 'Escape' && setRenaming(false)}
              ref={nameInput}
            />
            <button class="btn btn-primary btn-sm" type="submit">
              Save
            </button>
          </form>
        ) : (
          <a class="card-title" href={href} onClick={(e) => onLinkClick(e as unknown as MouseEvent, href)}>
            {p.name}
          </a>
        )}
        <div class="card-meta">
          <span class="type-badge">
            {type?.emoji} {type?.name ?? p.type}
          </span>
          <StatusPill status={p.status} />
          <span class="muted small changed">Changed {timeAgo(p.updatedAt)}</span>
        </div>
        <div class="card-foot">
          <span class="card-actions">
            <button class="btn btn-ghost btn-sm" onClick={() => navigate(href)} aria-label={`Open ${p.name}`}>
              Open
            </button>
            <button class="btn btn-ghost btn-sm" onClick={() => setRenaming(!renaming)} aria-label={`Rename ${p.name}`}>
              Rename
            </button>
            {confirming ? (
              <button class="btn btn-danger btn-sm" onClick={remove} aria-label={`Confirm delete ${p.name}`}>
                Delete?
              </button>
            ) : (
              <button class="btn btn-ghost btn-sm" onClick={() => setConfirming(true)} aria-label={`Delete ${p.name}`}>
                Delete
              </button>
            )}
          </span>
        </div>
        {error && (
          <p class="form-error small" role="alert">
            {error}
          </p>
        )}
      </div>
    </li>
  );
}
