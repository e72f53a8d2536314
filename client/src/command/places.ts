import { get } from '../common/api.js';
import type { Bilingual } from '../../../shared/labels.js';

/** A place a duty officer can name when setting an incident's location. */
export interface Place {
  name: Bilingual;
  kind: 'shelter' | 'warehouse' | 'road';
  lat: number;
  lon: number;
}

interface Located {
  name: Bilingual;
  location: { lat: number; lon: number };
}
interface BasemapFeature {
  properties: { kind?: string; name?: Bilingual };
  geometry: { type: string; coordinates: unknown };
}

/** The middle vertex of a road: where "建设大路" puts the pin. */
function roadPoint(geometry: BasemapFeature['geometry']): { lat: number; lon: number } | null {
  const line = (geometry.type === 'LineString' ? geometry.coordinates : geometry.type === 'MultiLineString' ? (geometry.coordinates as unknown[])[0] : null) as [number, number][] | null;
  const mid = line?.[Math.floor(line.length / 2)];
  return mid ? { lon: mid[0], lat: mid[1] } : null;
}

/** Shelters, warehouses and the named roads of the offline basemap, for finding a location by name. */
export async function loadPlaces(): Promise<Place[]> {
  const [shelters, warehouses, basemap] = await Promise.all([
    get<{ shelters: Located[] }>('/api/shelters').catch(() => ({ shelters: [] })),
    get<{ warehouses: Located[] }>('/api/warehouses').catch(() => ({ warehouses: [] })),
    get<{ features: BasemapFeature[] }>('/api/map/basemap').catch(() => ({ features: [] })),
  ]);
  const places: Place[] = [
    ...shelters.shelters.map((s) => ({ name: s.name, kind: 'shelter' as const, ...s.location })),
    ...warehouses.warehouses.map((w) => ({ name: w.name, kind: 'warehouse' as const, ...w.location })),
  ];
  for (const f of basemap.features) {
    if (f.properties.kind !== 'road' || !f.properties.name) continue;
    const at = roadPoint(f.geometry);
    if (at) places.push({ name: f.properties.name, kind: 'road', ...at });
  }
  return places;
}

/** Places whose Chinese or English name contains the query (case-insensitive), best matches first. */
export function findPlaces(places: readonly Place[], query: string, limit = 8): Place[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return places
    .filter((p) => p.name.zh.toLowerCase().includes(q) || p.name.en.toLowerCase().includes(q))
    .sort((a, b) => Number(!a.name.zh.startsWith(query.trim())) - Number(!b.name.zh.startsWith(query.trim())) || a.name.zh.length - b.name.zh.length)
    .slice(0, limit);
}
