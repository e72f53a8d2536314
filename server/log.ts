import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

const SECRET_PARAMS = /([?&](?:token|access_token|ticket)=)[^&#\s"]*/gi;

/**
 * Structured JSON logs; with `pretty` (a person at a terminal) the same records as readable lines.
 * Secrets never reach a log line: credential fields are censored, and any `url` field has its
 * `token` / `access_token` / `ticket` query parameters redacted (y-websocket integrations put the
 * token there). `destination` defaults to stdout (tests capture it).
 */
export function createLogger(level: string, destination?: DestinationStream, opts: { pretty?: boolean } = {}): Logger {
  const options = {
    level,
    base: { service: 'yingji' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'token', 'ticket', 'password', 'currentPassword', 'newPassword', '*.password', '*.token', '*.ticket', 'url', '*.url'],
      censor: (value: unknown, path: string[]) => (path.at(-1) === 'url' ? (typeof value === 'string' ? redactUrl(value) : value) : '[redacted]'),
    },
  };
  if (destination) return pino(options, destination);
  // pino-pretty as a stream in this process, not a transport worker: a fatal start-up error is
  // still printed before the process exits.
  return opts.pretty ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', sync: true })) : pino(options);
}

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}
