// The first-run "create your account" page and the sign-in page.
import { useState } from 'preact/hooks';
import { api, type User } from '../api';
import { Logo, ThemeToggle } from '../components/ui';

export function AuthPage({ mode, onDone }: { mode: 'setup' | 'login'; onDone: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const setup = mode === 'setup';

  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    if (setup && password !== confirm) {
      setError('The two passwords differ.');
      return;
    }
    setBusy(true);
    try {
      const u = setup ? await api.setup(email, password) : await api.login(email, password);
      onDone(u);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="auth-page">
      <div class="auth-top">
        <ThemeToggle />
      </div>
      <form class="auth-card glass" onSubmit={submit} aria-labelledby="auth-title">
        <Logo />
        <h1 id="auth-title">{setup ? 'Create your account' : 'Welcome back'}</h1>
        <p class="muted">
          {setup ? 'You are the first one here: this account will own this QuickVibe server.' : 'Sign in to keep building.'}
        </p>
        <label>
          Email
          <input type="email" name="email" autoComplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete={setup ? 'new-password' : 'current-password'}
            required
            minLength={setup ? 8 : undefined}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {setup && (
          <label>
            Confirm password
            <input type="password" name="confirm" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
          </label>
        )}
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <button class="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? 'One moment…' : setup ? 'Create account' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
