import path from 'node:path';
import { Router } from 'express';
import type { Module, ServerContext } from '../module.js';
import { requirePermission } from '../auth/policy.js';
import { loadBasemap } from './basemap.js';
import { staticRoutes } from './static.js';
import { PROJECT_ROOT } from '../paths.js';

export const CLIENT_DIR = path.join(PROJECT_ROOT, 'dist/client');

/** The web client: map configuration and offline basemap for it, and the built client itself. */
export function webModule(ctx: ServerContext, clientDir = CLIENT_DIR): Module {
  const api = Router();
  api.get('/api/map/config', requirePermission('organisation.read'), (_req, res) => {
    res.json({ tileUrl: ctx.config.MAP_TILE_URL ?? null, tileAttribution: ctx.config.MAP_TILE_ATTRIBUTION ?? null, timezone: ctx.config.TIMEZONE });
  });
  api.get('/api/map/basemap', requirePermission('organisation.read'), async (_req, res) => {
    res.setHeader('Cache-Control', 'private, max-age=3600');
    res.json(await loadBasemap(ctx.db.pool));
  });
  return { name: 'web', routers: [api, staticRoutes(clientDir)] };
}
