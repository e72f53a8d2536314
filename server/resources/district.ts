import type { Queryable } from '../db/database.js';

/** The district centre (settings 'district'): where an incident without a location is assumed to be. */
export async function districtCentre(db: Queryable): Promise<{ lat: number; lon: number; address?: string }> {
  const { rows } = await db.query<{ value: { centre: [number, number]; name: { zh: string } } }>(`SELECT value FROM settings WHERE key = 'district'`);
  const district = rows[0]?.value;
  if (!district) return { lat: 0, lon: 0 };
  return { lat: district.centre[0], lon: district.centre[1], address: `${district.name.zh}（区中心）` };
}
