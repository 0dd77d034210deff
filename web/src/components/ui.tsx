// Small shared pieces: spinner, elapsed time, relative time, theme switch.
import { useEffect, useState } from 'preact/hooks';

export function Spinner({ label = 'Working' }: { label?: string }) {
  return <span class="spinner" role="status" aria-label={label} />;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

// Elapsed shows the time since start, ticking while end is unknown.
export function Elapsed({ start, end }: { start: number; end?: number }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (end !== undefined) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [end]);
  return <span class="elapsed">{formatDuration((end ?? now) - start)}</span>;
}

export function timeAgo(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} d ago`;
  return new Date(t).toLocaleDateString();
}

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('qv-theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(t: Theme = initialTheme()) {
  document.documentElement.dataset.theme = t;
}

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(initialTheme());
  const next: Theme = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      class="icon-btn"
      aria-label={`Switch to ${next} theme`}
      title={`Switch to ${next} theme`}
      onClick={() => {
        localStorage.setItem('qv-theme', next);
        applyTheme(next);
        setTheme(next);
      }}
    >
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

export function Logo() {
  return (
    <span class="logo">
      <span class="logo-mark" aria-hidden="true">
        ⚡
      </span>
      QuickVibe
    </span>
  );
}

export function StatusPill({ status }: { status: string }) {
  const label: Record<string, string> = { idle: 'Draft', running: 'Building', ready: 'Live', error: 'Needs attention' };
  return <span class={`pill pill-${status}`}>{label[status] ?? status}</span>;
}
