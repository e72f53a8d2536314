import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { post, errorText } from './api.js';
import { saveSession, type Session } from './session.js';
import { lang, setLang, t, useLang } from './i18n.js';

/** Shown on every screen of an exercise incident; fixed, with no way to close it. */
export function ExerciseBanner() {
  return (
    <div class="exercise-banner" role="alert" aria-live="polite" data-testid="exercise-banner">
      演练 EXERCISE · 非真实事件 NOT A REAL INCIDENT
    </div>
  );
}

export function LangSwitch() {
  useLang();
  return (
    <button type="button" class="lang" onClick={() => setLang(lang() === 'zh' ? 'en' : 'zh')} title="Language / 语言">
      {lang() === 'zh' ? 'English' : '中文'}
    </button>
  );
}

export function LoginForm(props: { title: string; onLogin: (s: Session) => void }) {
  useLang();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await post<Session>('/api/auth/login', { username, password });
      saveSession(s);
      props.onLogin(s);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-label={t('登录', 'Log in')}>
        <h1>{props.title}</h1>
        <label>
          {t('用户名', 'Username')}
          <input name="username" autoComplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required autoFocus />
        </label>
        <label>
          {t('密码', 'Password')}
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {t('登录', 'Log in')}
        </button>
        <LangSwitch />
      </form>
    </main>
  );
}

/** Re-renders every `ms` (clocks, time in state, overdue counters). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Panel(props: { title: string; id?: string; children: ComponentChildren; extra?: ComponentChildren; class?: string }) {
  return (
    <section class={`panel ${props.class ?? ''}`} aria-labelledby={props.id ? `${props.id}-h` : undefined} data-panel={props.id}>
      <header>
        <h2 id={props.id ? `${props.id}-h` : undefined}>{props.title}</h2>
        {props.extra}
      </header>
      {props.children}
    </section>
  );
}
