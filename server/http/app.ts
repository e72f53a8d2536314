import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import { AppError, databaseUnavailable } from './errors.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from './db-unavailable.js';
import { refuseNul } from './validate.js';
import { securityHeaders } from './security-headers.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../log.js';

export const JSON_BODY_LIMIT = '1mb';
/** Routes whose JSON bodies may be larger: a situation report carries a photo (≤ 5 MiB, base64). */
export const LARGE_JSON_ROUTES: { method: string; path: RegExp; limit: string }[] = [{ method: 'POST', path: /^\/api\/incidents\/[^/]+\/reports\/?$/, limit: '8mb' }];

const INCIDENT_PATH = /^\/api\/incidents\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/?]|$)/i;

/** Logs one line per request, without tokens; requests on one incident log through a child logger carrying its id. */
function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const incidentId = INCIDENT_PATH.exec(req.originalUrl)?.[1]?.toLowerCase();
    const reqLog = incidentId ? log.child({ incidentId }) : log;
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'debug';
      reqLog[level]({ method: req.method, url: redactUrl(req.originalUrl), status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

/** Mutating requests with a body must send JSON. */
const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && ['POST', 'PUT', 'PATCH'].includes(req.method) && !req.is('application/json') && req.path.startsWith('/api/')) {
    throw new AppError('unsupported_media_type', 'send the body as application/json', { contentType: req.headers['content-type'] ?? null });
  }
  next();
};

/** The error catalogue applied to anything a route throws; never a stack trace to the client. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let appError: AppError;
    if (err instanceof AppError) appError = err;
    else if (err?.type === 'entity.parse.failed') appError = new AppError('malformed_json', 'the request body is not valid JSON', {});
    else if (err?.type === 'entity.too.large') appError = new AppError('payload_too_large', `the request body is over the limit of ${err.limit} bytes`, { limit: err.limit });
    else if (isDatabaseUnavailable(err)) {
      // Logged without the driver's text reaching the client: the answer says only "retry later".
      log.warn({ err, method: req.method, url: redactUrl(req.originalUrl) }, 'database unavailable');
      appError = databaseUnavailable(DATABASE_RETRY_AFTER_SECONDS);
    } else {
      log.error({ err, method: req.method, url: redactUrl(req.originalUrl) }, 'unhandled error');
      appError = new AppError('internal', 'internal server error', {});
    }
    if (res.headersSent) return;
    if (appError.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(appError.retryAfterSeconds))));
    res.status(appError.status).json({ error: { code: appError.code, message: appError.message, details: appError.details } });
  };
}

export function createHttpApp(opts: { log: Logger; trustProxy: boolean; routers: Router[]; publicUrl?: string; tileUrl?: string }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', opts.trustProxy);
  app.use(requestLog(opts.log));
  app.use(securityHeaders({ publicUrl: opts.publicUrl, tileUrl: opts.tileUrl }));
  app.use(requireJson);
  for (const large of LARGE_JSON_ROUTES) {
    // Parsed here, the global parser below skips the body (body-parser marks it read).
    const parser = express.json({ limit: large.limit, strict: true });
    app.use((req, res, next) => (req.method === large.method && large.path.test(req.path) ? parser(req, res, next) : next()));
  }
  app.use(express.json({ limit: JSON_BODY_LIMIT, strict: true }));
  app.use(refuseNul);
  for (const router of opts.routers) app.use(router);
  app.use((req, _res, next) => next(new AppError('not_found', `no route ${req.method} ${req.path}`, { method: req.method, path: req.path })));
  app.use(errorHandler(opts.log));
  return app;
}
