/**
 * A server in this process that can be stopped and started again on the same data (embedded
 * PGlite directory or PostgreSQL database), for tests of what survives a restart.
 */
import { rm } from 'node:fs/promises';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/log.js';
import { startServer, type RunningServer } from '../../server/app.js';
import { Api } from './api.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ADMIN_PASSWORD, tempDir, testEnv } from './server.js';

export interface RestartableServer {
  server: RunningServer;
  url: string;
  admin: Api;
  /** Stops the running server (gracefully) and starts a new one on the same data. */
  restart(): Promise<void>;
  /** Stops the server and removes its data. */
  dispose(): Promise<void>;
}

export async function startRestartableServer(extraEnv: Record<string, string> = {}): Promise<RestartableServer> {
  const dataDir = await tempDir();
  const database: TestDatabase = await createTestDatabase();
  const config = loadConfig(testEnv(dataDir, database.url, extraEnv));
  const boot = async () => {
    const server = await startServer(config, createLogger(config.LOG_LEVEL));
    return { server, admin: await new Api(server.url).login('admin', ADMIN_PASSWORD) };
  };
  let running: RunningServer | null = null;
  const handle: RestartableServer = {
    ...(await boot().then((b) => ((running = b.server), { server: b.server, url: b.server.url, admin: b.admin }))),
    async restart() {
      await running?.close();
      running = null;
      const b = await boot();
      running = b.server;
      handle.server = b.server;
      handle.url = b.server.url;
      handle.admin = b.admin;
    },
    async dispose() {
      await running?.close();
      running = null;
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
