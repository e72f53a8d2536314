import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { PlanValidationError } from './plans/loader.js';
import { startServer } from './app.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`Yingji cannot start: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
// JSON for log collectors; readable lines when a person runs it in a terminal.
const pretty = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && Boolean(process.stdout.isTTY));
const log = createLogger(config.LOG_LEVEL, undefined, { pretty });

try {
  const server = await startServer(config, log);
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  if (err instanceof PlanValidationError) {
    console.error(`Yingji cannot start: ${err.message}`);
    process.exit(3);
  }
  log.fatal({ err }, 'Yingji failed to start');
  process.exit(1);
}
