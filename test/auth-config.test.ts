import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

describe('session and login-limit settings', () => {
  it('have defaults', () => {
    expect(loadConfig({})).toMatchObject({
      TOKEN_TTL_HOURS: 12,
      SESSION_CACHE_MS: 2000,
      SESSION_RECHECK_MS: 30_000,
      LIVE_TICKET_TTL_SECONDS: 30,
      LOGIN_MAX_FAILURES_PER_USER_IP: 5,
      LOGIN_MAX_FAILURES_PER_USER: 50,
      LOGIN_MAX_FAILURES_PER_IP: 100,
      LOGIN_FAILURE_WINDOW_SECONDS: 900,
      LOGIN_BLOCK_SECONDS: 60,
      LOGIN_BLOCK_MAX_SECONDS: 3600,
    });
  });

  it('take fractional token lifetimes down to 5 seconds, and refuse nonsense', () => {
    expect(loadConfig({ TOKEN_TTL_HOURS: String(8 / 3600) }).TOKEN_TTL_HOURS).toBeCloseTo(8 / 3600);
    expect(problems({ TOKEN_TTL_HOURS: String(1 / 3600) })).toEqual([expect.stringMatching(/^TOKEN_TTL_HOURS: must be at least 5 seconds/)]);
    expect(problems({ SESSION_CACHE_MS: '60000', LIVE_TICKET_TTL_SECONDS: '0', LOGIN_MAX_FAILURES_PER_USER_IP: 'many' }).map((p) => p.split(':')[0])).toEqual([
      'SESSION_CACHE_MS',
      'LIVE_TICKET_TTL_SECONDS',
      'LOGIN_MAX_FAILURES_PER_USER_IP',
    ]);
  });
});
