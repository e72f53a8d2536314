import { createSecretKey, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type { Queryable } from '../db/database.js';
import type { Role } from '../../shared/roles.js';

export interface TokenClaims {
  userId: string;
  username: string;
  role: Role;
  teamId: string | null;
}

export interface TokenService {
  issue(claims: TokenClaims): Promise<{ token: string; expiresAt: string }>;
  /** Returns the claims of a valid, unexpired token, or null. */
  verify(token: string): Promise<TokenClaims | null>;
}

const ISSUER = 'yingji';
const VERIFIED_CACHE_MS = 5 * 60_000;
const VERIFIED_CACHE_ENTRIES = 10_000;

/**
 * The signing key comes from TOKEN_SECRET or, when unset, is generated once and kept in the
 * database, so every server node (and every restart) accepts the same tokens.
 */
export async function loadTokenSecret(db: Queryable, configured?: string): Promise<Uint8Array> {
  if (configured) return new TextEncoder().encode(configured);
  await db.query(`INSERT INTO settings (key, value) VALUES ('token_secret', $1) ON CONFLICT (key) DO NOTHING`, [
    JSON.stringify(randomBytes(32).toString('base64url')),
  ]);
  const { rows } = await db.query<{ value: string }>(`SELECT value FROM settings WHERE key = 'token_secret'`);
  return new TextEncoder().encode(rows[0]!.value);
}

export function createTokenService(secret: Uint8Array, ttlHours: number): TokenService {
  // A KeyObject made once: with raw bytes jose re-imports the key on every call.
  const key = createSecretKey(secret);
  // Verifying costs an HMAC through WebCrypto; every request and every reconnect presents a token,
  // mostly the same few hundred. A verified token's claims cannot change (they are signed), so they
  // are remembered until the token expires, and for at most VERIFIED_CACHE_MS.
  const verified = new Map<string, { claims: TokenClaims; until: number }>();
  return {
    async issue(claims) {
      const exp = Math.floor(Date.now() / 1000 + ttlHours * 3600);
      const token = await new SignJWT({ username: claims.username, role: claims.role, teamId: claims.teamId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(claims.userId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(key);
      return { token, expiresAt: new Date(exp * 1000).toISOString() };
    },
    async verify(token) {
      const now = Date.now();
      const hit = verified.get(token);
      if (hit && hit.until > now) return hit.claims;
      if (hit) verified.delete(token);
      try {
        const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'] });
        if (typeof payload.sub !== 'string') return null;
        const claims: TokenClaims = {
          userId: payload.sub,
          username: String(payload.username),
          role: payload.role as Role,
          teamId: (payload.teamId as string | null) ?? null,
        };
        const until = Math.min(now + VERIFIED_CACHE_MS, typeof payload.exp === 'number' ? payload.exp * 1000 : now);
        if (verified.size >= VERIFIED_CACHE_ENTRIES) verified.delete(verified.keys().next().value!);
        verified.set(token, { claims, until });
        return claims;
      } catch {
        return null;
      }
    },
  };
}
