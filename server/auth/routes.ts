import { Router } from 'express';
import { z } from 'zod';
import { ROLES } from '../../shared/roles.js';
import { userText } from '../../shared/text.js';
import type { Database } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { parseInput } from '../http/validate.js';
import { actorOf, requireAuth, requireRole } from './middleware.js';
import { policy } from './policy.js';
import type { TokenService } from './tokens.js';
import { authenticate, createUser, listUsers } from './users.js';

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }).strict();

const newUserBody = z
  .object({
    username: z.string().regex(/^[a-zA-Z0-9_.-]{3,32}$/, '3–32 letters, digits, _ . -'),
    password: z.string().min(8, 'at least 8 characters').max(256),
    role: z.enum(ROLES),
    teamId: z.string().min(1).nullish(),
    displayName: userText({ max: 64 }).optional(),
  })
  .strict();

/** Login is public; everything under /api registered after this router needs a token. */
export function authRoutes(db: Database, tokens: TokenService): Router {
  const router = Router();
  router.post('/api/auth/login', async (req, res) => {
    const { username, password } = parseInput(loginBody, req.body);
    const user = await authenticate(db.pool, username, password);
    if (!user) throw new AppError('invalid_credentials', 'unknown user or wrong password');
    const { token, expiresAt } = await tokens.issue({ userId: user.id, username: user.username, role: user.role, teamId: user.teamId });
    res.json({ token, expiresAt, user });
  });
  router.use('/api', requireAuth(tokens));
  router.get('/api/auth/me', (req, res) => {
    res.json({ user: actorOf(req) });
  });
  router.get('/api/users', requireRole(policy.manageUsers, 'list users'), async (_req, res) => {
    res.json({ users: await listUsers(db.pool) });
  });
  router.post('/api/users', requireRole(policy.manageUsers, 'create users'), async (req, res) => {
    const user = await createUser(db.pool, parseInput(newUserBody, req.body));
    res.status(201).json({ user });
  });
  return router;
}
