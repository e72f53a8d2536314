import { useEffect, useState } from 'preact/hooks';
import { get, logout as endOnServer } from '../common/api.js';
import { LangSwitch, LoginForm } from '../common/ui.js';
import { setTimeZone, t, useLang } from '../common/i18n.js';
import { useSession } from '../common/session.js';
import { ROLE_LABELS } from '../../../shared/roles.js';
import { IncidentList } from './IncidentList.js';
import { Board } from './Board.js';
import { ReviewView } from './ReviewView.js';
import { UsersPage } from './UsersPage.js';
import { DrillsPage } from './DrillsPage.js';
import { can } from '../../../shared/policy.js';

function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** The command centre: login → incident list and activation → incident board. */
export function App() {
  useLang();
  const [session, setSession] = useSession();
  const [wall, setWall] = useState(new URLSearchParams(location.search).has('wall') || localStorage.getItem('yingji.wall') === '1');
  const hash = useHashRoute();

  useEffect(() => {
    document.body.classList.toggle('wall', wall);
    localStorage.setItem('yingji.wall', wall ? '1' : '0');
  }, [wall]);
  useEffect(() => {
    if (!session) return;
    get('/api/organisation')
      .then((o) => o.district?.timezone && setTimeZone(o.district.timezone))
      .catch(() => {});
  }, [session]);

  if (!session) return <LoginForm title={t('应急指挥中心', 'Emergency command centre')} onLogin={setSession} />;
  const logout = () => {
    void endOnServer();
    setSession(null);
  };
  const match = /^#\/incidents\/([0-9a-f-]{36})/.exec(hash);
  const review = /^#\/incidents\/([0-9a-f-]{36})\/review/.exec(hash);
  return (
    <div class="app">
      <nav class="topbar" aria-label={t('导航', 'Navigation')}>
        <a href="#/" class="brand">{t('应急指挥中心', 'Command centre')}</a>
        {can(session.user, 'user.manage') && (
          <a href="#/users" class="nav-link" data-testid="nav-users">
            {t('用户管理', 'Users')}
          </a>
        )}
        {can(session.user, 'drill.read') && (
          <a href="#/drills" class="nav-link" data-testid="nav-drills">
            {t('演练导调', 'Drills')}
          </a>
        )}
        <span class="spacer" />
        <span class="muted">
          {session.user.displayName} · {ROLE_LABELS[session.user.role][t('zh', 'en') as 'zh' | 'en']}
        </span>
        <button type="button" onClick={() => setWall(!wall)} aria-pressed={wall}>
          {t('大屏模式', 'Wall screen')}
        </button>
        <LangSwitch />
        <button type="button" onClick={logout}>
          {t('退出', 'Log out')}
        </button>
      </nav>
      {review ? (
        <ReviewView key={review[1]} incidentId={review[1]!} session={session} />
      ) : match ? (
        <Board key={match[1]} incidentId={match[1]!} session={session} wall={wall} />
      ) : hash.startsWith('#/drills') && can(session.user, 'drill.read') ? (
        <DrillsPage session={session} />
      ) : hash.startsWith('#/users') && can(session.user, 'user.manage') ? (
        <UsersPage session={session} />
      ) : (
        <IncidentList session={session} />
      )}
    </div>
  );
}
