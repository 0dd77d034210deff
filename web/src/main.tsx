import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, setOnUnauthenticated, type Status, type User } from './api';
import { navigate, onLinkClick, usePath } from './router';
import { AuthPage } from './pages/Auth';
import { Dashboard } from './pages/Dashboard';
import { NewProject } from './pages/NewProject';
import { ProjectPage } from './pages/ProjectPage';
import { applyTheme, Logo, ThemeToggle } from './components/ui';
import './styles.css';

applyTheme();

function App() {
  const path = usePath();
  const [status, setStatus] = useState<Status | null>(null);
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [bootError, setBootError] = useState('');

  useEffect(() => {
    setOnUnauthenticated(() => {
      setUser(null);
      navigate('/login', true);
    });
    (async () => {
      try {
        const st = await api.status();
        setStatus(st);
        if (st.setupRequired) {
          setUser(null);
          navigate('/setup', true);
          return;
        }
        try {
          setUser(await api.me());
        } catch {
          setUser(null);
        }
      } catch (err) {
        setBootError((err as Error).message);
      }
    })();
  }, []);

  useEffect(() => {
    if (user === null && path !== '/login' && path !== '/setup') navigate('/login', true);
    if (user && (path === '/login' || path === '/setup')) navigate('/', true);
  }, [user, path]);

  if (bootError) {
    return (
      <div class="center-page">
        <div class="glass card-pad" role="alert">
          <h1>QuickVibe is unreachable</h1>
          <p class="muted">{bootError}</p>
          <button class="btn" onClick={() => location.reload()}>
            Try again
          </button>
        </div>
      </div>
    );
  }
  if (user === undefined || status === null) {
    return <div class="center-page muted">Loading…</div>;
  }
  if (!user) {
    const mode = path === '/setup' && status.setupRequired ? 'setup' : 'login';
    return (
      <AuthPage
        mode={mode}
        onDone={(u) => {
          setStatus({ ...status, setupRequired: false });
          setUser(u);
          navigate('/', true);
        }}
      />
    );
  }

  const projectMatch = path.match(/^\/p\/([^/]+)$/);
  let page;
  if (projectMatch) page = <ProjectPage id={decodeURIComponent(projectMatch[1])} status={status} />;
  else if (path === '/new') page = <NewProject status={status} />;
  else page = <Dashboard />;

  return (
    <div class={projectMatch ? 'shell shell-full' : 'shell'}>
      <header class="topbar glass">
        <a href="/" class="brand" onClick={(e) => onLinkClick(e as unknown as MouseEvent, '/')} aria-label="QuickVibe home">
          <Logo />
        </a>
        <nav class="topnav" aria-label="Main">
          <a href="/" onClick={(e) => onLinkClick(e as unknown as MouseEvent, '/')} aria-current={path === '/' ? 'page' : undefined}>
            Projects
          </a>
          <a class="btn btn-primary btn-sm" href="/new" onClick={(e) => onLinkClick(e as unknown as MouseEvent, '/new')}>
            + New project
          </a>
        </nav>
        <div class="topbar-right">
          {!status.model.configured && (
            <span class="pill pill-error" title={status.model.reason}>
              Model not configured
            </span>
          )}
          <ThemeToggle />
          <span class="user-email" title={user.email}>
            {user.email}
          </span>
          <button
            class="btn btn-ghost btn-sm"
            onClick={async () => {
              try {
                await api.logout();
              } finally {
                setUser(null);
                navigate('/login', true);
              }
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main class="page">{page}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
