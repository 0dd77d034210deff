// The live preview: the app in an iframe on its own origin, with its URL,
// sandbox id, reload and device-width toggle.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Spinner } from './ui';

const devices = [
  { id: 'desktop', label: 'Desktop', width: '100%' },
  { id: 'tablet', label: 'Tablet', width: '820px' },
  { id: 'phone', label: 'Phone', width: '390px' },
] as const;

interface Props {
  projectId: string;
  port?: number;
  previewUrl?: string;
  sandboxId?: string;
  reloadKey: number;
  starting: boolean;
  running: boolean;
  hasRuns: boolean;
}

export function PreviewPane({ projectId, port, previewUrl, sandboxId, reloadKey, starting, running, hasRuns }: Props) {
  const [device, setDevice] = useState<(typeof devices)[number]['id']>('desktop');
  const [src, setSrc] = useState<string | undefined>(undefined);
  const [nonce, setNonce] = useState(0);

  // Private previews hand out a signed URL; servers without them serve the
  // plain preview URL.
  useEffect(() => {
    let stale = false;
    if (!previewUrl) {
      setSrc(undefined);
      return;
    }
    if (!port) return; // the project type (and its port) is still loading
    let renew: ReturnType<typeof setTimeout> | undefined;
    api.previewUrl(projectId, port).then(
      (r) => {
        if (stale) return;
        setSrc(r.url);
        // Signed URLs expire: fetch a fresh one (and reload) a minute early.
        const left = r.expiresAt ? Date.parse(r.expiresAt) - Date.now() - 60_000 : NaN;
        if (left > 0) renew = setTimeout(() => setNonce((n) => n + 1), Math.max(left, 30_000));
      },
      (err) => {
        if (stale) return;
        if (!(err instanceof ApiError) || err.status !== 404) console.warn('preview url:', err);
        setSrc(previewUrl);
      },
    );
    return () => {
      stale = true;
      clearTimeout(renew);
    };
  }, [projectId, port, previewUrl, reloadKey, nonce]);

  const width = devices.find((d) => d.id === device)!.width;
  return (
    <div class="preview">
      <div class="preview-bar">
        <button class="icon-btn" aria-label="Reload preview" title="Reload preview" onClick={() => setNonce((n) => n + 1)} disabled={!src}>
          ↻
        </button>
        {previewUrl ? (
          <a class="preview-url" href={src ?? previewUrl} target="_blank" rel="noopener noreferrer" title="Open in a new tab">
            {previewUrl}
          </a>
        ) : (
          <span class="preview-url muted">No preview yet</span>
        )}
        {sandboxId && (
          <span class="sandbox-id" title="Sandbox id">
            {sandboxId}
          </span>
        )}
        <div class="seg" role="group" aria-label="Device width">
          {devices.map((d) => (
            <button key={d.id} class={device === d.id ? 'active' : ''} aria-pressed={device === d.id} onClick={() => setDevice(d.id)}>
              {d.label}
            </button>
          ))}
        </div>
      </div>
      <div class="preview-stage">
        {src ? (
          <iframe
            key={`${src}#${reloadKey}#${nonce}`}
            class="preview-frame"
            style={{ width }}
            title="App preview"
            src={src}
            sandbox="allow-scripts allow-forms allow-same-origin"
          />
        ) : (
          <div class="preview-empty">
            {running ? (
              <>
                <Spinner label="Building" />
                <p>{starting ? 'Starting sandbox…' : 'Building your app…'}</p>
              </>
            ) : (
              <>
                <div class="empty-emoji" aria-hidden="true">
                  🖥️
                </div>
                <p class="muted">{hasRuns ? 'No preview: the last run did not get that far.' : 'Your app will appear here after the first message.'}</p>
              </>
            )}
          </div>
        )}
        {src && starting && (
          <div class="preview-overlay" role="status">
            <Spinner label="Starting sandbox" /> Starting sandbox…
          </div>
        )}
      </div>
    </div>
  );
}
