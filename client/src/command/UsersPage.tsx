import { useEffect, useState } from 'preact/hooks';
import { errorText, get, patch, post } from '../common/api.js';
import { bi, t, useLang } from '../common/i18n.js';
import { Panel } from '../common/ui.js';
import type { Session } from '../common/session.js';
import { ROLE_LABELS, ROLES, type Role, type UserView } from '../../../shared/roles.js';
import type { Bilingual } from '../../../shared/labels.js';

interface TeamOption {
  id: string;
  name: Bilingual;
}

/**
 * User administration for commanders: list, create, change role or team, disable / enable,
 * reset a password. A role or team change, a disable and a reset end the user's sessions on the
 * server at once (their board and phone return to the login screen within seconds).
 */
export function UsersPage(props: { session: Session }) {
  useLang();
  const [users, setUsers] = useState<UserView[] | null>(null);
  const [teams, setTeams] = useState<TeamOption[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const reload = () =>
    get<{ users: UserView[] }>('/api/users')
      .then((r) => setUsers(r.users))
      .catch((e) => setError(errorText(e)));
  useEffect(() => {
    void reload();
    get<{ teams: TeamOption[] }>('/api/teams')
      .then((r) => setTeams(r.teams))
      .catch(() => {});
  }, []);
  const act = async (fn: () => Promise<unknown>, done: string) => {
    setError(null);
    setNotice(null);
    try {
      await fn();
      setNotice(done);
      await reload();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <main class="list-page users-page">
      <Panel title={t('用户管理', 'Users')} id="users">
        {error && <p class="error" role="alert">{error}</p>}
        {notice && <p class="notice" role="status">{notice}</p>}
        <table>
          <thead>
            <tr>
              <th>{t('用户名', 'Username')}</th>
              <th>{t('姓名', 'Name')}</th>
              <th>{t('角色', 'Role')}</th>
              <th>{t('队伍', 'Team')}</th>
              <th>{t('状态', 'Status')}</th>
              <th>{t('操作', 'Actions')}</th>
            </tr>
          </thead>
          <tbody>
            {users?.map((u) => (
              <UserLine key={u.id} user={u} teams={teams} self={u.id === props.session.user.id} act={act} />
            ))}
          </tbody>
        </table>
      </Panel>
      <NewUserForm teams={teams} act={act} />
    </main>
  );
}

function UserLine(props: { user: UserView; teams: TeamOption[]; self: boolean; act: (fn: () => Promise<unknown>, done: string) => Promise<void> }) {
  const { user, act } = props;
  const [role, setRole] = useState<Role>(user.role);
  const [teamId, setTeamId] = useState(user.teamId ?? '');
  const [password, setPassword] = useState('');
  useEffect(() => (setRole(user.role), setTeamId(user.teamId ?? '')), [user.role, user.teamId]);
  const changed = role !== user.role || (teamId || null) !== user.teamId;
  return (
    <tr data-user={user.username} class={user.disabled ? 'disabled' : ''}>
      <td>{user.username}</td>
      <td>{user.displayName}</td>
      <td>
        <select aria-label={t(`${user.username} 的角色`, `Role of ${user.username}`)} value={role} disabled={props.self} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {bi(ROLE_LABELS[r])}
            </option>
          ))}
        </select>
      </td>
      <td>
        <select aria-label={t(`${user.username} 的队伍`, `Team of ${user.username}`)} value={teamId} disabled={role !== 'field'} onChange={(e) => setTeamId(e.currentTarget.value)}>
          <option value="">—</option>
          {props.teams.map((tm) => (
            <option key={tm.id} value={tm.id}>
              {bi(tm.name)}
            </option>
          ))}
        </select>
      </td>
      <td data-testid="user-status">{user.disabled ? t('已停用', 'Disabled') : t('正常', 'Active')}</td>
      <td class="actions">
        <button type="button" disabled={!changed} onClick={() => act(() => patch(`/api/users/${user.id}`, { role, teamId: role === 'field' ? teamId || null : null }), t(`已更新 ${user.username}`, `Updated ${user.username}`))}>
          {t('保存', 'Save')}
        </button>{' '}
        {!props.self && (
          <button
            type="button"
            class={user.disabled ? '' : 'danger'}
            data-testid="toggle-disabled"
            onClick={() => act(() => patch(`/api/users/${user.id}`, { disabled: !user.disabled }), user.disabled ? t(`已启用 ${user.username}`, `Enabled ${user.username}`) : t(`已停用 ${user.username}，其登录已失效`, `Disabled ${user.username}; their sessions have ended`))}
          >
            {user.disabled ? t('启用', 'Enable') : t('停用', 'Disable')}
          </button>
        )}{' '}
        <input type="password" autoComplete="new-password" aria-label={t(`${user.username} 的新密码`, `New password for ${user.username}`)} placeholder={t('新密码', 'New password')} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />{' '}
        <button
          type="button"
          disabled={password.length < 8}
          onClick={() => act(async () => (await post(`/api/users/${user.id}/password`, { password }), setPassword('')), t(`已重置 ${user.username} 的密码`, `Password of ${user.username} reset`))}
        >
          {t('重置密码', 'Reset password')}
        </button>
      </td>
    </tr>
  );
}

function NewUserForm(props: { teams: TeamOption[]; act: (fn: () => Promise<unknown>, done: string) => Promise<void> }) {
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('staff');
  const [teamId, setTeamId] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    void props.act(
      async () => {
        await post('/api/users', { username, password, role, ...(displayName.trim() ? { displayName: displayName.trim() } : {}), ...(role === 'field' ? { teamId } : {}) });
        setUsername('');
        setDisplayName('');
        setPassword('');
      },
      t(`已创建 ${username}`, `Created ${username}`),
    );
  };
  return (
    <Panel title={t('新建用户', 'New user')} id="new-user">
      <form class="new-user" onSubmit={submit}>
        <label>
          {t('用户名', 'Username')}
          <input name="username" required pattern="[a-zA-Z0-9_.\-]{3,32}" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          {t('姓名', 'Name')}
          <input name="displayName" maxLength={64} value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
        </label>
        <label>
          {t('初始密码（至少 8 位）', 'Initial password (8+ characters)')}
          <input name="password" type="password" autoComplete="new-password" required minLength={8} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label>
          {t('角色', 'Role')}
          <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {bi(ROLE_LABELS[r])}
              </option>
            ))}
          </select>
        </label>
        {role === 'field' && (
          <label>
            {t('队伍', 'Team')}
            <select name="teamId" required value={teamId} onChange={(e) => setTeamId(e.currentTarget.value)}>
              <option value="">{t('— 选择队伍 —', '— choose a team —')}</option>
              {props.teams.map((tm) => (
                <option key={tm.id} value={tm.id}>
                  {bi(tm.name)}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="submit" class="primary">
          {t('创建', 'Create')}
        </button>
      </form>
    </Panel>
  );
}

