import { Router } from 'express';
import { z } from 'zod';
import { ROLES } from '../../shared/roles.js';
import { userText } from '../../shared/text.js';
import { withTransaction, type Database } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { parseInput, UUID } from '../http/validate.js';
import type { LoginLimits } from './login-limits.js';
import { actorOf, requireAuth, sessionOf } from './middleware.js';
import { requirePermission } from './policy.js';
import type { SessionService } from './sessions.js';
import { authenticate, checkPassword, createUser, listUsers, setPassword, updateUser } from './users.js';

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }).strict();
const password = z.string().min(8, 'at least 8 characters').max(256);
const displayName = userText({ max: 64 });
const teamId = z.string().min(1).max(64);

const newUserBody = z
  .object({
    username: z.string().regex(/^[a-zA-Z0-9_.-]{3,32}$/, '3–32 letters, digits, _ . -'),
    password,
    role: z.enum(ROLES),
    teamId: teamId.nullish(),
    displayName: displayName.optional(),
  })
  .strict();

const userChangeBody = z
  .object({ role: z.enum(ROLES).optional(), teamId: teamId.nullable().optional(), displayName: displayName.optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one of role, teamId, displayName, disabled');
const passwordResetBody = z.object({ password }).strict();
const ownPasswordBody = z.object({ currentPassword: z.string().min(1).max(256), newPassword: password }).strict();

/** Login is public; everything under /api registered after this router needs a token. */
export function authRoutes(db: Database, sessions: SessionService, limits: LoginLimits): Router {
  const router = Router();
  router.post('/api/auth/login', async (req, res) => {
    const { username, password } = parseInput(loginBody, req.body);
    const ip = req.ip ?? 'unknown';
    const { wait, attempt } = await limits.begin(username, ip);
    if (!attempt) {
      res.setHeader('Retry-After', String(wait));
      throw new AppError('too_many_attempts', `too many failed logins; try again in ${wait} s`, { retryAfterSeconds: wait });
    }
    const user = await authenticate(db.pool, username, password);
    if (!user) {
      await limits.failed(attempt);
      throw new AppError('invalid_credentials', 'unknown user or wrong password');
    }
    await limits.succeeded(attempt);
    if (user.disabled) throw new AppError('account_disabled', 'this account is disabled', {});
    const { token, expiresAt } = await sessions.create(user);
    res.json({ token, expiresAt, user });
  });
  router.use('/api', requireAuth(sessions));
  router.get('/api/auth/me', requirePermission('account.self'), (req, res) => {
    res.json({ user: actorOf(req) });
  });
  router.post('/api/auth/logout', requirePermission('account.self'), async (req, res) => {
    await sessions.revokeSession(sessionOf(req).sessionId, 'logout');
    res.status(204).end();
  });
  // Own password: this session goes on (the token in hand stays valid), every other one ends.
  router.post('/api/auth/password', requirePermission('account.self'), async (req, res) => {
    const body = parseInput(ownPasswordBody, req.body);
    const session = sessionOf(req);
    // Guessing the current password through this route counts like failed logins.
    const ip = req.ip ?? 'unknown';
    const { wait, attempt } = await limits.begin(session.actor.username, ip);
    if (!attempt) {
      res.setHeader('Retry-After', String(wait));
      throw new AppError('too_many_attempts', `too many failed attempts; try again in ${wait} s`, { retryAfterSeconds: wait });
    }
    if (!(await checkPassword(db.pool, session.actor.userId, body.currentPassword))) {
      await limits.failed(attempt);
      throw new AppError('invalid_credentials', 'the current password is wrong');
    }
    await limits.succeeded(attempt);
    await withTransaction(db.pool, async (tx, afterCommit) => {
      await setPassword(tx, session.actor.userId, body.newPassword);
      await sessions.revokeUser(tx, session.actor.userId, 'password changed', afterCommit, session.sessionId);
    });
    res.status(204).end();
  });
  router.get('/api/users', requirePermission('user.manage'), async (_req, res) => {
    res.json({ users: await listUsers(db.pool) });
  });
  router.post('/api/users', requirePermission('user.manage'), async (req, res) => {
    const user = await createUser(db.pool, parseInput(newUserBody, req.body));
    res.status(201).json({ user });
  });
  router.patch('/api/users/:id', requirePermission('user.manage'), async (req, res) => {
    const id = userIdOf(req.params.id);
    const change = parseInput(userChangeBody, req.body);
    if (id === actorOf(req).userId && (change.disabled === true || (change.role !== undefined && change.role !== 'commander'))) {
      // Otherwise the last commander can lock everyone out of user administration.
      throw new AppError('conflict', 'a commander cannot disable or demote themself; ask another commander', { userId: id });
    }
    const user = await withTransaction(db.pool, async (tx, afterCommit) => {
      const result = await updateUser(tx, id, change);
      if (result.endsSessions) await sessions.revokeUser(tx, id, change.disabled ? 'account disabled' : 'role or team changed', afterCommit);
      else await sessions.accountChanged(tx, id, afterCommit);
      return result.user;
    });
    res.json({ user });
  });
  router.post('/api/users/:id/password', requirePermission('user.manage'), async (req, res) => {
    const id = userIdOf(req.params.id);
    const body = parseInput(passwordResetBody, req.body);
    await withTransaction(db.pool, async (tx, afterCommit) => {
      await setPassword(tx, id, body.password);
      await sessions.revokeUser(tx, id, 'password reset', afterCommit);
    });
    res.status(204).end();
  });
  // A short-lived, one-use ticket for a WebSocket URL, so the long-lived token stays out of URLs.
  router.post('/api/live/ticket', requirePermission('account.self'), async (req, res) => {
    res.status(201).json(await sessions.issueTicket(sessionOf(req)));
  });
  return router;
}

function userIdOf(id: string | string[] | undefined): string {
  if (typeof id !== 'string' || !UUID.test(id)) throw new AppError('not_found', 'no such user', { userId: String(id) });
  return id;
}
