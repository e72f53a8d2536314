import webpush from 'web-push';
import type { Queryable } from '../db/database.js';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/** VAPID keys are generated on first start and kept in the database, shared by every node. */
export async function loadVapidKeys(db: Queryable): Promise<VapidKeys> {
  await db.query(`INSERT INTO settings (key, value) VALUES ('vapid_keys', $1) ON CONFLICT (key) DO NOTHING`, [JSON.stringify(webpush.generateVAPIDKeys())]);
  const { rows } = await db.query<{ value: VapidKeys }>(`SELECT value FROM settings WHERE key = 'vapid_keys'`);
  return rows[0]!.value;
}
