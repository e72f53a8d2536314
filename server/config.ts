import path from 'node:path';
import { z } from 'zod';
import cron from 'node-cron';
import { warningTargetProblems } from './warnings/targets.js';
import { DEFAULT_PUSH_ENDPOINT_ALLOWLIST, pushAllowlistProblems } from './warnings/push-endpoint.js';

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
  /** Redis for the cluster seam, the Socket.IO adapter and cluster-wide limits; unset: PostgreSQL NOTIFY (or one node on PGlite). */
  /** Bearer token for GET /metrics; unset: /metrics answers loopback peers only. */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional(),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  // Fractional hours are fine (0.5 = 30 min); at least 5 seconds.
  TOKEN_TTL_HOURS: z.coerce.number().min(5 / 3600, 'must be at least 5 seconds (0.0014)').max(24 * 30).default(12),
  // Sessions (issue 10): how long a session check may be cached, how often open connections are re-checked.
  SESSION_CACHE_MS: z.coerce.number().int().min(0).max(10_000).default(2000),
  SESSION_RECHECK_MS: z.coerce.number().int().min(1000).default(30_000),
  LIVE_TICKET_TTL_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  // Login limits (failed logins only): per username+address, per username, per address.
  LOGIN_MAX_FAILURES_PER_USER_IP: z.coerce.number().int().min(1).max(1000).default(5),
  LOGIN_MAX_FAILURES_PER_USER: z.coerce.number().int().min(1).max(100_000).default(50),
  LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(100),
  LOGIN_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(900),
  LOGIN_BLOCK_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  LOGIN_BLOCK_MAX_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(3600),
  PLANS_DIR: z.string().min(1).default('./plans'),
  ORGANISATION_FILE: z.string().min(1).default('./seed/demo-organisation.yaml'),
  // Drills (issue 11): shipped scenario seeds, and how often the scheduler looks for due injects and sealed drills.
  DRILLS_DIR: z.string().min(1).default('./drills'),
  DRILL_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(2000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  TIMEZONE: z.string().min(1).default('Asia/Shanghai'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  // Replace each pooled connection after this many checkouts (0: never); the soak sets it to force replacements.
  DB_CLIENT_MAX_USES: z.coerce.number().int().min(0).default(0),
  // PostgreSQL shared_buffers of the embedded database (its WebAssembly memory never shrinks).
  EMBEDDED_SHARED_BUFFERS: z.string().regex(/^[1-9][0-9]*(kB|MB|GB)$/, 'a size such as 32MB').default('32MB'),
  TRUST_PROXY: bool.default(false),
  // Live checklist (Yjs) rooms.
  YJS_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  YJS_COMPACT_AFTER_UPDATES: z.coerce.number().int().min(1).default(200),
  YJS_COMPACT_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  YJS_PING_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  // Limits of the live checklist (issue 9): note length, document size, connections per user and per incident (per node for now).
  YJS_MAX_NOTE_LENGTH: z.coerce.number().int().min(1).max(1_000_000).default(4000),
  YJS_MAX_DOC_BYTES: z.coerce.number().int().min(64 * 1024).default(2 * 1024 * 1024),
  YJS_MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(20),
  YJS_MAX_CONNECTIONS_PER_INCIDENT: z.coerce.number().int().min(1).default(500),
  // Live feed (Socket.IO): largest client message, how long a dropped connection can recover, abuse limit.
  LIVE_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
  LIVE_RECOVERY_WINDOW_MS: z.coerce.number().int().min(0).default(120_000),
  LIVE_MAX_BAD_MESSAGES: z.coerce.number().int().min(1).default(20),
  // Socket.IO connections per user, and sockets in one incident's room (per node for now).
  LIVE_MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(20),
  LIVE_MAX_CONNECTIONS_PER_INCIDENT: z.coerce.number().int().min(1).default(500),
  // a node not heard from for this long is dead: its people leave presence
  LIVE_NODE_TTL_MS: z.coerce.number().int().min(300).default(30_000),
  // resources: stock watch (node-cron expression in TIMEZONE, or "off")
  STOCK_WATCH_CRON: z
    .string()
    .refine((v) => v === 'off' || cron.validate(v), 'must be a cron expression (e.g. "0 * * * *") or "off"')
    .default('0 * * * *'),
  STOCK_EXPIRY_WARNING_DAYS: z.coerce.number().int().min(0).max(3650).default(60),
  // Warnings (issue 5): two-person approval, public URL for callbacks, channels, outbox tuning.
  WARNING_DEFAULT_VALID_HOURS: z.coerce.number().int().min(1).max(720).default(24),
  WARNING_TWO_PERSON: bool.default(true),
  PUBLIC_URL: z.string().url().optional(),
  TWILIO_ACCOUNT_SID: z.string().min(1).optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  TWILIO_FROM: z.string().min(1).optional(),
  TWILIO_API_BASE_URL: z.string().url().optional(),
  BROADCAST_ENDPOINTS: z.string().optional(),
  BROADCAST_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  EXERCISE_BROADCAST_ENDPOINTS: z.string().optional(),
  EXERCISE_SMS_NUMBERS: z.string().optional(),
  // URLs among BROADCAST_ENDPOINTS / EXERCISE_BROADCAST_ENDPOINTS that receive GB/T 35965.1 instead of CAP.
  BROADCAST_GBT35965_ENDPOINTS: z.string().optional(),
  // Hardening (issue 10): unsigned broadcasts only when asked for; public push subscriptions.
  BROADCAST_ALLOW_UNSIGNED: bool.default(false),
  PUSH_ENDPOINT_ALLOWLIST: z.string().default(DEFAULT_PUSH_ENDPOINT_ALLOWLIST),
  PUSH_SUBSCRIBE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(10),
  PUSH_SUBSCRIBE_LIMIT_TOTAL: z.coerce.number().int().min(1).default(600),
  PUSH_SUBSCRIBE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  VAPID_SUBJECT: z.string().min(1).default('mailto:yingji@localhost'),
  WEB_PUSH_CA_FILE: z.string().min(1).optional(),
  WARNING_WORKERS: bool.default(true),
  WARNING_RATE_SMS: z.coerce.number().positive().default(20),
  WARNING_RATE_PUSH: z.coerce.number().positive().default(500),
  WARNING_RATE_BROADCAST: z.coerce.number().positive().default(50),
  WARNING_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  WARNING_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  WARNING_RETRY_BASE_MS: z.coerce.number().int().min(1).default(2000),
  WARNING_CLAIM_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  WARNING_POLL_MS: z.coerce.number().int().min(10).default(2000),
  WARNING_PROGRESS_INTERVAL_MS: z.coerce.number().int().min(0).default(2000),
  // GB/T 35965.1 (issue 15): the issuing unit's code ZZZZZZDDDUUUXX.
  GBT35965_DIVISION_CODE: z.string().regex(/^\d{6}$/, 'must be a 6-digit GB/T 2260 division code').default('210106'),
  GBT35965_INSTITUTION_CODE: z.string().regex(/^\d{3}$/, 'must be a 3-digit GB/T 4657 institution code').default('000'),
  GBT35965_UNIT_CODE: z.string().regex(/^\d{3}$/, 'must be 3 digits').default('000'),
  GBT35965_EXTENSION_CODE: z.string().regex(/^\d{2}$/, 'must be 2 digits').default('00'),
  // 叫应 (issue 15): the escalation scheduler.
  ACK_POLL_MS: z.coerce.number().int().min(10).default(2000),
  ACK_CLAIM_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  // 叫应 of dispatch orders: minutes to acknowledge before the team leader is alerted (0 = off), then the deputy, then the board.
  DISPATCH_ACK_MINUTES: z.coerce.number().min(0).max(1440).default(10),
  DISPATCH_DEPUTY_AFTER_MINUTES: z.coerce.number().min(0.01).max(1440).default(5),
  // Overdue checklist items: reminder to the unit's duty contact at the due time, the commander after this grace.
  CHECKLIST_OVERDUE_GRACE_MINUTES: z.coerce.number().min(0.01).max(1440).default(15),
  DISPATCH_BOARD_AFTER_MINUTES: z.coerce.number().min(0.01).max(1440).default(5),
  // Web client (issue 6): a tile server of the deployment's own ({z}/{x}/{y}); without it the offline basemap only.
  MAP_TILE_URL: z
    .string()
    .refine((v) => /^https?:\/\/.+\{z\}.*\{x\}.*\{y\}/.test(v) || /^\/.+\{z\}.*\{x\}.*\{y\}/.test(v), 'must be an http(s) or /path URL template with {z}, {x} and {y}')
    .optional(),
  MAP_TILE_ATTRIBUTION: z.string().max(300).optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  plansDir: string;
  organisationFile: string;
  drillsDir: string;
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
  const problems = [...warningTargetProblems(cfg), ...pushAllowlistProblems(cfg.PUSH_ENDPOINT_ALLOWLIST)];
  if (problems.length) throw new ConfigError(problems);
  return {
    ...cfg,
    dataDir: path.resolve(cfg.DATA_DIR),
    plansDir: path.resolve(cfg.PLANS_DIR),
    organisationFile: path.resolve(cfg.ORGANISATION_FILE),
    drillsDir: path.resolve(cfg.DRILLS_DIR),
  };
}
