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
}

export function toUserView(row: UserRow): UserView {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    teamId: row.team_id,
    createdAt: row.created_at.toISOString(),
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
const DUMMY_HASH = hashPassword('not-a-real-password');

export async function createUser(
  db: Queryable,
  input: { username: string; password: string; role: Role; teamId?: string | null; displayName?: string },
): Promise<UserView> {
  if (input.role === 'field' && !input.teamId) {
    throw new AppError('validation_failed', 'a field user must be bound to a team (teamId)', { issues: [{ path: 'teamId', message: 'required for role field' }] });
  }
  if (input.role !== 'field' && input.teamId) {
    throw new AppError('validation_failed', 'only field users are bound to a team', { issues: [{ path: 'teamId', message: `not allowed for role ${input.role}` }] });
  }
  if (input.teamId) {
    const team = await db.query('SELECT 1 FROM teams WHERE id = $1', [input.teamId]);
    if (team.rowCount === 0) throw new AppError('unknown_team', `team ${input.teamId} does not exist`, { teamId: input.teamId });
  }
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
