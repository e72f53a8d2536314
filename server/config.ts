import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL');

/**
 * Every setting the server reads from its environment. Later modules add theirs here,
 * so one place documents and validates them all (README "Configuration" mirrors it).
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: postgresUrl.optional(),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  TOKEN_TTL_HOURS: z.coerce.number().positive().max(24 * 30).default(12),
  PLANS_DIR: z.string().min(1).default('./plans'),
  ORGANISATION_FILE: z.string().min(1).default('./seed/demo-organisation.yaml'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TIMEZONE: z.string().min(1).default('Asia/Shanghai'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  TRUST_PROXY: bool.default(false),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  plansDir: string;
  organisationFile: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; throws ConfigError with one line per problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const cfg = result.data;
  try {
    new Intl.DateTimeFormat('en', { timeZone: cfg.TIMEZONE });
  } catch {
    throw new ConfigError([`TIMEZONE: unknown time zone "${cfg.TIMEZONE}"`]);
  }
  return {
    ...cfg,
    dataDir: path.resolve(cfg.DATA_DIR),
    plansDir: path.resolve(cfg.PLANS_DIR),
    organisationFile: path.resolve(cfg.ORGANISATION_FILE),
  };
}
