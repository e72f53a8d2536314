import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/log.js';
import { startServer, type RunningServer } from '../../server/app.js';
import { Api } from './api.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const ADMIN_PASSWORD = 'admin-password-for-tests';
const ROOT = path.resolve(import.meta.dirname, '../..');

export interface TestServer {
  url: string;
  server: RunningServer;
  /** Anonymous client. */
  api: Api;
  /** Logged in as the commander `admin`. */
  admin: Api;
  dataDir: string;
  database: TestDatabase;
  /** Creates a user (through the API, as admin) and returns a client logged in as them. */
  user(role: 'commander' | 'staff' | 'field' | 'controller' | 'observer' | 'evaluator', opts?: { teamId?: string; username?: string }): Promise<Api & { userId: string; username: string }>;
  close(): Promise<void>;
}

let userCounter = 0;

export function testEnv(dataDir: string, databaseUrl: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ADMIN_PASSWORD,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PLANS_DIR: path.join(ROOT, 'plans'),
    DRILLS_DIR: path.join(ROOT, 'drills'),
    ORGANISATION_FILE: path.join(ROOT, 'seed/demo-organisation.yaml'),
    ...extra,
  };
}

/** Starts a real server in this process on a free port, with its own database. */
export async function startTestServer(extraEnv: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'yingji-test-'));
  const database = await createTestDatabase();
  const config = loadConfig(testEnv(dataDir, database.url, extraEnv));
  const server = await startServer(config, createLogger(config.LOG_LEVEL));
  const api = new Api(server.url);
  const admin = await api.login('admin', ADMIN_PASSWORD);
  return {
    url: server.url,
    server,
    api,
    admin,
    dataDir,
    database,
    async user(role, opts = {}) {
      const username = opts.username ?? `${role}${++userCounter}_${process.pid}`;
      const password = 'password-123';
      const teamId = role === 'field' ? (opts.teamId ?? 'T-D01') : undefined;
      const res = await admin.post('/api/users', { username, password, role, teamId });
      if (res.status !== 201) throw new Error(`create user failed: ${res.status} ${JSON.stringify(res.body)}`);
      const client = await api.login(username, password);
      return Object.assign(client, { userId: res.body.user.id as string, username });
    },
    async close() {
      await server.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string | null>;
  kill(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/**
 * Starts `server/main.ts` as a separate process (for SIGKILL / restart tests) and waits until it
 * listens. `command` runs something else that ends in the server (`npm start`); it runs in a
 * process group of its own, and `kill` signals the whole group.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 60_000, command?: { file: string; args: string[] }): Promise<SpawnedServer> {
  const run = command ?? { file: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'server/main.ts')] };
  const child = spawn(run.file, run.args, {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: command !== undefined,
  });
  let out = '';
  // A command (npm start) runs the server as a grandchild in its process group: npm may exit on a
  // signal before the server has finished logging its shutdown. The output pipes close only when
  // every process holding them has exited, so for a command that is when it counts as exited.
  const exited = new Promise<number | string | null>((resolve) => child.once(command ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) => resolve(code ?? signal)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:[^"]+)".*"msg":"Yingji listening"/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    exited,
    async kill(signal = 'SIGKILL') {
      if (command) process.kill(-child.pid!, signal);
      else child.kill(signal);
      return exited;
    },
  };
}

export async function tempDir(prefix = 'yingji-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}
