import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import type { Role, UserView } from '../../shared/roles.js';
import { AppError } from '../http/errors.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  role: Role;
  team_id: string | null;
  created_at: Date;
  disabled_at: Date | null;
}

export function toUserView(row: UserRow): UserView {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    teamId: row.team_id,
    createdAt: row.created_at.toISOString(),
    disabled: row.disabled_at !== null,
  };
}

export async function findUserByName(db: Queryable, username: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
  return rows[0];
}

/** Checks a login. Always spends one scrypt, so unknown users are not faster to reject. */
export async function authenticate(db: Queryable, username: string, password: string): Promise<UserView | null> {
  const row = await findUserByName(db, username);
  const ok = await verifyPassword(password, row?.password_hash ?? (await DUMMY_HASH));
  return row && ok ? toUserView(row) : null;
}

/** True when `password` is the user's current one (one scrypt either way). */
export async function checkPassword(db: Queryable, userId: string, password: string): Promise<boolean> {
  const { rows } = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [userId]);
  const ok = await verifyPassword(password, rows[0]?.password_hash ?? (await DUMMY_HASH));
  return ok && rows.length > 0;
}
const DUMMY_HASH = hashPassword('not-a-real-password');

/** A field user has exactly one team, everyone else none; the team must exist. */
async function checkRoleAndTeam(db: Queryable, role: Role, teamId: string | null | undefined): Promise<void> {
  if (role === 'field' && !teamId) {
    throw new AppError('validation_failed', 'a field user must be bound to a team (teamId)', { issues: [{ path: 'teamId', message: 'required for role field' }] });
  }
  if (role !== 'field' && teamId) {
    throw new AppError('validation_failed', 'only field users are bound to a team', { issues: [{ path: 'teamId', message: `not allowed for role ${role}` }] });
  }
  if (teamId) {
    const team = await db.query('SELECT 1 FROM teams WHERE id = $1', [teamId]);
    if (team.rowCount === 0) throw new AppError('unknown_team', `team ${teamId} does not exist`, { teamId });
  }
}

export async function createUser(
  db: Queryable,
  input: { username: string; password: string; role: Role; teamId?: string | null; displayName?: string },
): Promise<UserView> {
  await checkRoleAndTeam(db, input.role, input.teamId);
  try {
    const { rows } = await db.query<UserRow>(
      `INSERT INTO users (id, username, display_name, password_hash, role, team_id)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [randomUUID(), input.username, input.displayName ?? input.username, await hashPassword(input.password), input.role, input.teamId ?? null],
    );
    return toUserView(rows[0]!);
  } catch (err) {
    if ((err as pg.DatabaseError).code === '23505') {
      throw new AppError('conflict', `username ${input.username} is taken`, { username: input.username });
    }
    throw err;
  }
}

export interface UserChange {
  role?: Role;
  teamId?: string | null;
  displayName?: string;
  disabled?: boolean;
}

/**
 * Changes a user in the caller's transaction (the row is locked). Returns the new view and
 * whether what a token says about the user (role, team) or its standing (disabled) changed, so
 * the caller revokes the user's sessions in the same transaction.
 */
export async function updateUser(tx: Queryable, id: string, change: UserChange): Promise<{ user: UserView; endsSessions: boolean }> {
  const { rows } = await tx.query<UserRow>('SELECT * FROM users WHERE id = $1 FOR UPDATE', [id]);
  const current = rows[0];
  if (!current) throw new AppError('not_found', 'no such user', { userId: id });
  const role = change.role ?? current.role;
  // Leaving the field role drops the team unless a new one is named; joining it needs one.
  const teamId = change.teamId !== undefined ? change.teamId : role === 'field' ? current.team_id : null;
  await checkRoleAndTeam(tx, role, teamId);
  const disabledAt = change.disabled === undefined ? current.disabled_at : change.disabled ? (current.disabled_at ?? new Date()) : null;
  const updated = await tx.query<UserRow>(
    'UPDATE users SET role = $2, team_id = $3, display_name = $4, disabled_at = $5 WHERE id = $1 RETURNING *',
    [id, role, teamId, change.displayName ?? current.display_name, disabledAt],
  );
  const endsSessions = role !== current.role || teamId !== current.team_id || (disabledAt !== null && current.disabled_at === null);
  return { user: toUserView(updated.rows[0]!), endsSessions };
}

export async function setPassword(tx: Queryable, id: string, password: string): Promise<void> {
  const res = await tx.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, await hashPassword(password)]);
  if (res.rowCount === 0) throw new AppError('not_found', 'no such user', { userId: id });
}

export async function listUsers(db: Queryable): Promise<UserView[]> {
  const { rows } = await db.query<UserRow>('SELECT * FROM users ORDER BY created_at, username');
  return rows.map(toUserView);
}

/**
 * First start: create the commander account `admin` with ADMIN_PASSWORD, or with a generated
 * password printed once. Safe when several nodes start at once (the insert is idempotent).
 */
export async function ensureAdmin(db: Queryable, log: Logger, configuredPassword?: string): Promise<void> {
  if (await findUserByName(db, 'admin')) return;
  const password = configuredPassword ?? generatePassword();
  const { rowCount } = await db.query(
    `INSERT INTO users (id, username, display_name, password_hash, role)
     VALUES ($1, 'admin', '系统管理员 Administrator', $2, 'commander') ON CONFLICT (username) DO NOTHING`,
    [randomUUID(), await hashPassword(password)],
  );
  if (rowCount === 0) return;
  if (configuredPassword) {
    log.info('created commander account "admin" with ADMIN_PASSWORD');
  } else {
    // Printed once, on stdout, so the operator can log in; it is never shown again.
    process.stdout.write(`\n  Yingji: created commander account "admin" with password: ${password}\n  Set ADMIN_PASSWORD to choose it yourself. This is shown only once.\n\n`);
  }
}
