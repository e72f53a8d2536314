import type { Area } from '../../shared/plan.js';
import { EARTH_RADIUS_KM, haversineKm } from '../geo.js';

/** Ray casting over [lat, lon] vertices (the district is small: a planar test is exact enough). */
export function pointInPolygon(lat: number, lon: number, ring: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i]!;
    const [yj, xj] = ring[j]!;
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A point is in a warning area when it lies in its polygon or its circle. */
export function inArea(area: Pick<Area, 'polygon' | 'circle'>, lat: number, lon: number): boolean {
  if (area.polygon && pointInPolygon(lat, lon, area.polygon as [number, number][])) return true;
  if (area.circle && haversineKm({ lat, lon }, area.circle) <= area.circle.radiusKm) return true;
  return false;
}

/**
 * The same test in SQL, for INSERT … SELECT over every recipient in one statement.
 * PostgreSQL's geometric `polygon @> point` does the ring; the circle is haversine.
 * Parameters: $poly (text like '((lat,lon),…)' or NULL), $clat, $clon, $crad (or NULL).
 */
export function sqlInArea(latCol: string, lonCol: string, p: { poly: string; clat: string; clon: string; crad: string }): string {
  return `(${latCol} IS NOT NULL AND ${lonCol} IS NOT NULL AND (
    (${p.poly}::polygon IS NOT NULL AND ${p.poly}::polygon @> point(${latCol}, ${lonCol}))
    OR (${p.crad}::float8 IS NOT NULL AND 2 * ${EARTH_RADIUS_KM} * asin(least(1, sqrt(
      power(sin(radians(${latCol} - ${p.clat}::float8) / 2), 2)
      + cos(radians(${p.clat}::float8)) * cos(radians(${latCol})) * power(sin(radians(${lonCol} - ${p.clon}::float8) / 2), 2)
    ))) <= ${p.crad}::float8)))`;
}

export function sqlAreaParams(area: Pick<Area, 'polygon' | 'circle'>): [string | null, number | null, number | null, number | null] {
  const poly = area.polygon ? `(${area.polygon.map(([lat, lon]) => `(${lat},${lon})`).join(',')})` : null;
  return [poly, area.circle?.lat ?? null, area.circle?.lon ?? null, area.circle?.radiusKm ?? null];
}
