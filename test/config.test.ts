import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 3000, HOST: '0.0.0.0', TOKEN_TTL_HOURS: 12 });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.dataDir).toMatch(/data$/);
  });

  it('reports one clear message per problem', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ADMIN_PASSWORD: 'short', LOG_LEVEL: 'loud' });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toHaveLength(4);
    expect(err.problems.join('\n')).toMatch(/PORT/);
    expect(err.problems.join('\n')).toMatch(/DATABASE_URL: must be a postgres/);
    expect(err.problems.join('\n')).toMatch(/ADMIN_PASSWORD: must be at least 8/);
    expect(err.problems.join('\n')).toMatch(/LOG_LEVEL/);
  });

  it('rejects an unknown time zone', () => {
    expect(() => loadConfig({ TIMEZONE: 'Mars/Olympus' })).toThrow(/TIMEZONE/);
  });
});
