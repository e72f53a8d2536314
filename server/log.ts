import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_PARAMS = /([?&](?:token|access_token|ticket)=)[^&#\s"]*/gi;

/**
 * Structured JSON logs. Secrets never reach a log line: credential fields are censored, and any
 * `url` field has its `token` / `access_token` / `ticket` query parameters redacted (y-websocket
 * integrations put the token there). `destination` defaults to stdout (tests capture it).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'yingji' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'token', 'ticket', 'password', 'currentPassword', 'newPassword', '*.password', '*.token', '*.ticket', 'url', '*.url'],
      censor: (value: unknown, path: string[]) => (path.at(-1) === 'url' ? (typeof value === 'string' ? redactUrl(value) : value) : '[redacted]'),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}
