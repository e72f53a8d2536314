import type { Bilingual } from './labels.js';

/** A point as the API carries it. */
export interface GeoPoint {
  lat: number;
  lon: number;
}

export const EARTH_RADIUS_KM = 6371.0088;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in kilometres (haversine). */
export function haversineKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

export const roundKm = (km: number) => Math.round(km * 10) / 10;

/** Initial great-circle bearing from a to b, degrees clockwise from north in [0, 360). */
export function bearingDeg(a: GeoPoint, b: GeoPoint): number {
  const y = Math.sin(rad(b.lon - a.lon)) * Math.cos(rad(b.lat));
  const x = Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) - Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lon - a.lon));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}

/** The eight compass points, as people give directions on the phone (“往东北走”). */
export const COMPASS_POINTS: readonly Bilingual[] = [
  { zh: '北', en: 'N' },
  { zh: '东北', en: 'NE' },
  { zh: '东', en: 'E' },
  { zh: '东南', en: 'SE' },
  { zh: '南', en: 'S' },
  { zh: '西南', en: 'SW' },
  { zh: '西', en: 'W' },
  { zh: '西北', en: 'NW' },
];

/** The compass point a bearing falls in (each spans 45°, north from 337.5° to 22.5°). */
export const compassPoint = (deg: number): Bilingual => COMPASS_POINTS[Math.round((((deg % 360) + 360) % 360) / 45) % 8]!;

/**
 * A distance as it is said: metres (to 10 m) under 1 km, then kilometres with one decimal
 * (whole kilometres from 100 km on). `{value, unit}` so each language adds its own words.
 */
export function distanceParts(km: number): { value: string; unit: 'm' | 'km' } {
  const m = Math.round((km * 1000) / 10) * 10;
  if (m < 1000) return { value: String(m), unit: 'm' };
  return { value: km >= 100 ? String(Math.round(km)) : (Math.round(km * 10) / 10).toFixed(1), unit: 'km' };
}
