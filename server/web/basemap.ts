import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Queryable } from '../db/database.js';
import { PROJECT_ROOT } from '../paths.js';

const BASEMAP_DIR = path.join(PROJECT_ROOT, 'server/web/basemap');

interface Feature {
  type: 'Feature';
  properties: Record<string, unknown>;
  geometry: { type: string; coordinates: unknown };
}

/**
 * The offline basemap: the district outline from the organisation settings plus the hand-drawn
 * main roads and rivers shipped in server/web/basemap/*.geojson. One FeatureCollection, each
 * feature with `properties.kind` = district | road | river and a bilingual `properties.name`.
 */
export async function loadBasemap(db: Queryable): Promise<{ type: 'FeatureCollection'; features: Feature[] }> {
  const features: Feature[] = [];
  const { rows } = await db.query<{ value: { name: { zh: string; en: string }; boundary?: [number, number][] } }>(
    `SELECT value FROM settings WHERE key = 'district'`,
  );
  const district = rows[0]?.value;
  if (district?.boundary && district.boundary.length >= 3) {
    const ring = district.boundary.map(([lat, lon]) => [lon, lat]);
    ring.push(ring[0]!);
    features.push({ type: 'Feature', properties: { kind: 'district', name: district.name }, geometry: { type: 'Polygon', coordinates: [ring] } });
  }
  for (const file of ['roads.geojson', 'river.geojson']) {
    const collection = JSON.parse(await readFile(path.join(BASEMAP_DIR, file), 'utf8')) as { features: Feature[] };
    features.push(...collection.features);
  }
  return { type: 'FeatureCollection', features };
}
