import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs. Tokens in query strings (y-websocket puts them there) are redacted. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'yingji' },
    redact: { paths: ['req.headers.authorization', 'token', 'password', '*.password', '*.token'], censor: '[redacted]' },
  });
}

export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token)=)[^&]*/gi, '$1[redacted]');
}
