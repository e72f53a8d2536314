import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** An http(s) URL's origin, or null for a /path template or anything unparsable. */
function originOf(url: string | undefined): string | null {
  if (!url || !/^https?:\/\//.test(url)) return null;
  try {
    return new URL(url.replace(/\{[a-z]\}/g, '0')).origin;
  } catch {
    return null;
  }
}

const HOST = /^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/i;

/**
 * Security headers on every answer (helmet). The CSP allows only the app's own scripts — the
 * Vite build has no inline script —, its own WebSockets (Yjs, Socket.IO: CSP 'self' does not
 * cover ws: in every browser), the tile server of MAP_TILE_URL for images, and no framing, no
 * plugins, no <base>. Inline styles stay allowed: Leaflet positions map panes with style
 * attributes and the field page's loading text has one. HSTS only when the request came over
 * TLS (req.secure, which honours TRUST_PROXY) or the deployment's PUBLIC_URL is https.
 */
export function securityHeaders(opts: { publicUrl?: string; tileUrl?: string }): RequestHandler[] {
  const tileOrigin = originOf(opts.tileUrl);
  const publicOrigin = originOf(opts.publicUrl);
  const ownSockets = (req: IncomingMessage) => {
    const hosts = new Set<string>();
    const host = req.headers.host;
    if (host && HOST.test(host)) hosts.add(host);
    if (publicOrigin) hosts.add(new URL(publicOrigin).host);
    return [...hosts].flatMap((h) => [`ws://${h}`, `wss://${h}`]).join(' ');
  };
  const csp = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'blob:', ...(tileOrigin ? [tileOrigin] : [])],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'", (req: IncomingMessage, _res: ServerResponse) => ownSockets(req)],
      workerSrc: ["'self'"],
      manifestSrc: ["'self'"],
      objectSrc: ["'none'"],
      frameSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  });
  const others = helmet({
    contentSecurityPolicy: false,
    strictTransportSecurity: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
  const hstsAlways = publicOrigin?.startsWith('https:') ?? false;
  const hsts: RequestHandler = (req, res, next) => {
    if (hstsAlways || req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  };
  return [csp as RequestHandler, others as RequestHandler, hsts];
}
