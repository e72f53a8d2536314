import type { WarningColour } from '../../../shared/labels.js';
import type { HazardType } from '../../../shared/labels.js';

/** CAP severity / urgency / certainty for each Chinese warning colour (蓝 四级 … 红 一级). */
export const COLOUR_TO_CAP: Record<WarningColour, { severity: string; urgency: string; certainty: string }> = {
  blue: { severity: 'Minor', urgency: 'Future', certainty: 'Possible' },
  yellow: { severity: 'Moderate', urgency: 'Expected', certainty: 'Likely' },
  orange: { severity: 'Severe', urgency: 'Immediate', certainty: 'Likely' },
  red: { severity: 'Extreme', urgency: 'Immediate', certainty: 'Observed' },
};

export const HAZARD_TO_CAP_CATEGORY: Record<HazardType, string> = {
  waterlogging: 'Met',
  flood: 'Met',
  hazchem: 'CBRNE',
  'hazchem-transport': 'CBRNE',
  fire: 'Fire',
  'forest-fire': 'Fire',
  'snow-ice': 'Met',
  'gas-explosion': 'Safety',
  earthquake: 'Geo',
  'power-outage': 'Infra',
  crowd: 'Safety',
};

/** Tiexi district (铁西区) administrative code: the prefix of every identifier we issue. */
export const DISTRICT_CODE = '210106';
export const CAP_SENDER = 'yingji@210106.tiexi.shenyang.gov.cn';

/** CAP forbids spaces, commas and the XML-reserved < and & in identifiers and sender. */
export function isCapIdentifier(s: string): boolean {
  return s.length > 0 && !/[\s,<&]/.test(s);
}

/** "2026-11-23T15:20:00+08:00": CAP requires an explicit offset; we speak China Standard Time (no DST). */
export function capDateTime(d: Date): string {
  const local = new Date(d.getTime() + 8 * 3600_000);
  return `${local.toISOString().slice(0, 19)}+08:00`;
}

/** The identifier of a new alert: district code, our org, local time and a short unique part. */
export function capIdentifier(at: Date, unique: string): string {
  const stamp = capDateTime(at).slice(0, 19).replace(/[-:T]/g, '');
  const id = `${DISTRICT_CODE}-yingji-${stamp}-${unique.replace(/[^0-9a-zA-Z]/g, '').slice(0, 12)}`;
  if (!isCapIdentifier(id)) throw new Error(`bad CAP identifier ${id}`);
  return id;
}

/** "lat,lon lat,lon …" — a closed ring (first point equals last), at least 4 points. */
export function capPolygon(ring: [number, number][]): string {
  const first = ring[0];
  const last = ring[ring.length - 1];
  if (ring.length < 4 || !first || !last || first[0] !== last[0] || first[1] !== last[1]) throw new Error('CAP polygon must be a closed ring of at least 4 points');
  return ring.map(([lat, lon]) => `${lat},${lon}`).join(' ');
}

/** "lat,lon radius" with the radius in kilometres. */
export function capCircle(c: { lat: number; lon: number; radiusKm: number }): string {
  return `${c.lat},${c.lon} ${c.radiusKm}`;
}

/** Exercise texts start with a marker a reader can't miss. */
export const EXERCISE_PREFIX = { zh: '【演练】', en: 'EXERCISE: ' } as const;

export function markExercise(text: string, lang: 'zh' | 'en', exercise: boolean): string {
  if (!exercise) return text;
  const prefix = EXERCISE_PREFIX[lang];
  return text.startsWith(prefix.trim()) ? text : prefix + text;
}
