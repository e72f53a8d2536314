import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Structured JSON logs; with `pretty` (a person at a terminal) the same records as readable lines.
 * Tokens in query strings (y-websocket puts them there) are redacted.
 */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const options = {
    level,
    base: { service: 'yingji' },
    redact: { paths: ['req.headers.authorization', 'token', 'password', '*.password', '*.token'], censor: '[redacted]' },
  };
  // pino-pretty as a stream in this process, not a transport worker: a fatal start-up error is
  // still printed before the process exits.
  return opts.pretty ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', sync: true })) : pino(options);
}

export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token)=)[^&]*/gi, '$1[redacted]');
}
