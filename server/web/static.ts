import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';

/** Paths the client app never answers: the API, the live endpoints, CAP, webhooks, health. */
export const RESERVED_PREFIXES = ['/api', '/yjs', '/socket.io', '/cap', '/webhooks', '/healthz', '/public'];

const isReserved = (p: string) => RESERVED_PREFIXES.some((prefix) => p === prefix || p.startsWith(prefix + '/'));

/**
 * Serves the built client (dist/client). Hashed files under /assets are immutable; the HTML
 * pages, the service worker and the manifest are revalidated on every load so a deployment
 * reaches clients at once. Unknown page paths fall back to the command-centre or field page;
 * reserved prefixes never do (they keep their JSON 404s).
 */
export function staticRoutes(clientDir: string): Router {
  const router = Router();
  const page = (name: string) => path.join(clientDir, name);
  router.use(
    express.static(clientDir, {
      index: 'index.html',
      setHeaders(res, filePath) {
        const rel = path.relative(clientDir, filePath).split(path.sep).join('/');
        if (rel.startsWith('assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        else res.setHeader('Cache-Control', 'no-cache');
        if (rel === 'sw.js') res.setHeader('Service-Worker-Allowed', '/');
      },
    }),
  );
  router.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isReserved(req.path) || path.extname(req.path) !== '') return next();
    const file = req.path === '/field' || req.path.startsWith('/field/') ? 'field.html' : 'index.html';
    if (!existsSync(page(file))) {
      res.status(503).type('text/plain').send('The web client is not built: run `npm run build:client` (npm start does it).');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(page(file));
  });
  return router;
}
