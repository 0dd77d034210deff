// The Code tab: the workspace's file tree and an editor; saving writes the
// file into the sandbox (and the server records it as a version).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type FileEntry } from '../api';
import type { Editor } from '../editor';

interface Props {
  projectId: string;
  reloadKey: number;
  hasSandbox: boolean;
  onSaved: () => void;
}

export function CodePane({ projectId, reloadKey, hasSandbox, onSaved }: Props) {
  const [files, setFiles] = useState<FileEntry[] | null>(null);
  const [path, setPath] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [state, setState] = useState<'idle' | 'loading' | 'saving' | 'saved'>('idle');
  const [error, setError] = useState('');
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<Editor | null>(null);

  useEffect(() => {
    api.files(projectId).then(
      (fs) => {
        const sorted = [...fs].sort((a, b) => a.path.localeCompare(b.path));
        setFiles(sorted);
        if (!path) {
          const first = sorted.find((f) => !f.isDir && /(^|\/)index\.html$/.test(f.path)) ?? sorted.find((f) => !f.isDir);
          if (first) setPath(first.path);
        }
      },
      (err) => setError(err.message),
    );
  }, [projectId, reloadKey]);

  useEffect(() => {
    if (!path || !host.current) return;
    let cancelled = false;
    setState('loading');
    setError('');
    Promise.all([api.file(projectId, path), import('../editor')]).then(
      ([text, mod]) => {
        if (cancelled || !host.current) return;
        editor.current?.destroy();
        host.current.textContent = '';
        const dark = document.documentElement.dataset.theme === 'dark';
        editor.current = mod.createEditor(host.current, path, text, dark, () => setDirty(true), () => save());
        setDirty(false);
        setState('idle');
      },
      (err) => {
        if (!cancelled) {
          setError(err.message);
          setState('idle');
        }
      },
    );
    return () => {
      cancelled = true;
    };
  }, [projectId, path, reloadKey]);

  useEffect(() => () => editor.current?.destroy(), []);

  const pathRef = useRef(path);
  pathRef.current = path;
  const save = async () => {
    const p = pathRef.current;
    if (!p || !editor.current) return;
    setState('saving');
    setError('');
    try {
      await api.saveFile(projectId, p, editor.current.content());
      setDirty(false);
      setState('saved');
      onSaved();
    } catch (err) {
      setError((err as Error).message);
      setState('idle');
    }
  };

  if (!hasSandbox && files?.length === 0) {
    return <div class="pane-empty muted">No files yet: send a first message and the code appears here.</div>;
  }
  return (
    <div class="code">
      <nav class="file-tree" aria-label="Files">
        {files === null && <p class="muted pad small">Loading files…</p>}
        <ul>
          {files?.map((f) => {
            const depth = f.path.split('/').length - 1;
            const name = f.path.slice(f.path.lastIndexOf('/') + 1);
            return (
              <li key={f.path} style={{ paddingLeft: `${0.75 + depth * 0.9}rem` }}>
                {f.isDir ? (
                  <span class="dir">▸ {name}</span>
                ) : (
                  <button class={`file${f.path === path ? ' active' : ''}`} aria-current={f.path === path ? 'true' : undefined} onClick={() => setPath(f.path)} title={f.path}>
                    {name}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      </nav>
      <div class="editor-wrap">
        <div class="editor-bar">
          <code class="editor-path">{path ?? 'No file selected'}</code>
          {dirty && <span class="dirty" title="Unsaved changes">●</span>}
          <span class="muted small">{state === 'saving' ? 'Saving…' : state === 'saved' ? 'Saved ✓' : state === 'loading' ? 'Loading…' : ''}</span>
          {error && (
            <span class="form-error small" role="alert">
              {error}
            </span>
          )}
          <button class="btn btn-primary btn-sm" onClick={save} disabled={!path || state === 'saving'} aria-label="Save file" title="Save (Ctrl+S)">
            Save
          </button>
        </div>
        <div class="editor" ref={host} />
      </div>
    </div>
  );
}
