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

/** What a correctly signed, unexpired token says: who, in which session, until when. */
export interface VerifiedToken {
  claims: TokenClaims;
  sessionId: string;
  /** ms since epoch */
  expiresAt: number;
}

export interface TokenService {
  /** Signs a token for session `sessionId`, valid until `expiresAt` (ms since epoch). */
  issue(claims: TokenClaims, sessionId: string, expiresAt: number): Promise<string>;
  /** The claims of a valid token that has `exp` and `sid`, or null. Says nothing about the session. */
  verify(token: string): Promise<VerifiedToken | null>;
}

const ISSUER = 'yingji';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
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

export function createTokenService(secret: Uint8Array): TokenService {
  // A KeyObject made once: with raw bytes jose re-imports the key on every call.
  const key = createSecretKey(secret);
  // Verifying costs an HMAC through WebCrypto; every request and every reconnect presents a token,
  // mostly the same few hundred. A verified token's claims cannot change (they are signed), so they
  // are remembered until the token expires, and for at most VERIFIED_CACHE_MS. Whether its session
  // still stands is asked of the session store every time.
  const verified = new Map<string, { result: VerifiedToken; until: number }>();
  return {
    async issue(claims, sessionId, expiresAt) {
      return new SignJWT({ username: claims.username, role: claims.role, teamId: claims.teamId, sid: sessionId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(claims.userId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt / 1000))
        .sign(key);
    },
    async verify(token) {
      const now = Date.now();
      const hit = verified.get(token);
      if (hit && hit.until > now) return hit.result;
      if (hit) verified.delete(token);
      try {
        // exp is required (issue 10 L6): a signed token without it would never expire.
        const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'], requiredClaims: ['exp', 'sub', 'sid'] });
        if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') return null;
        if (!UUID.test(payload.sub) || !UUID.test(payload.sid)) return null;
        const result: VerifiedToken = {
          claims: {
            userId: payload.sub,
            username: String(payload.username),
            role: payload.role as Role,
            teamId: (payload.teamId as string | null) ?? null,
          },
          sessionId: payload.sid,
          expiresAt: payload.exp * 1000,
        };
        const until = Math.min(now + VERIFIED_CACHE_MS, result.expiresAt);
        if (verified.size >= VERIFIED_CACHE_ENTRIES) verified.delete(verified.keys().next().value!);
        verified.set(token, { result, until });
        return result;
      } catch {
        return null;
      }
    },
  };
}
