/**
 * Remembers verified tokens for a while. A reconnect storm presents the same few hundred tokens
 * again and again, and verifying one (HMAC through WebCrypto, key imported per call) costs
 * milliseconds under load. Entries expire with the token, and after at most `maxAgeMs`.
 */
import { decodeJwt } from 'jose';
import type { TokenClaims, TokenService } from '../auth/tokens.js';

export class VerifiedTokenCache {
  private readonly entries = new Map<string, { claims: TokenClaims; until: number }>();

  constructor(
    private readonly tokens: TokenService,
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 5 * 60_000,
  ) {}

  async verify(token: string): Promise<TokenClaims | null> {
    const now = Date.now();
    const hit = this.entries.get(token);
    if (hit && hit.until > now) return hit.claims;
    if (hit) this.entries.delete(token);
    const claims = await this.tokens.verify(token);
    if (!claims) return null;
    const exp = decodeJwt(token).exp;
    const until = Math.min(now + this.maxAgeMs, typeof exp === 'number' ? exp * 1000 : now);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { claims, until });
    return claims;
  }
}
