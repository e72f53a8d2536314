import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTransaction } from '../db/database.js';
import type { Logger } from '../log.js';
import { MATERIAL_ITEMS } from '../../shared/catalogue.js';
import type { OrganisationSeed } from './seed-schema.js';

const SEED_LOCK_KEY = 7_140_002;

/**
 * Loads the demo organisation on first start (when no team exists yet). Runs in one
 * transaction under an advisory lock, so concurrent first starts load it exactly once.
 */
export async function seedOrganisationIfEmpty(pool: pg.Pool, seed: OrganisationSeed, log: Logger): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK_KEY]);
    const existing = await tx.query('SELECT 1 FROM teams LIMIT 1');
    if (existing.rowCount) return false;

    await tx.query(`INSERT INTO settings (key, value) VALUES ('district', $1), ('command_centre', $2) ON CONFLICT (key) DO NOTHING`, [
      JSON.stringify(seed.district),
      JSON.stringify(seed.commandCentre),
    ]);
    for (const t of seed.teams) {
      await tx.query(
        `INSERT INTO teams (id, name_zh, name_en, tier, kind, specialties, headcount, base_lat, base_lon, base_address, contact_name, contact_phone, leader_name, leader_phone, deputy_name, deputy_phone, plan_units)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
        [t.id, t.name.zh, t.name.en, t.tier, t.kind, t.specialties, t.headcount, t.base.lat, t.base.lon, t.base.address, t.contact.name, t.contact.phone, t.leader?.name ?? null, t.leader?.phone ?? null, t.deputy?.name ?? null, t.deputy?.phone ?? null, t.planUnits ?? []],
      );
    }
    for (const w of seed.warehouses) {
      await tx.query(
        `INSERT INTO warehouses (id, name_zh, name_en, tier, area_m2, lat, lon, address, contact_name, contact_phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [w.id, w.name.zh, w.name.en, w.tier, w.areaM2 ?? null, w.location.lat, w.location.lon, w.location.address, w.contact.name, w.contact.phone],
      );
      for (const s of w.stock) {
        const item = MATERIAL_ITEMS[s.item];
        await tx.query(
          `INSERT INTO stock_lines (id, warehouse_id, item, category, quantity, min_quantity, unit, batch, expires_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [randomUUID(), w.id, s.item, item.category, s.quantity, s.minQuantity ?? null, item.unit.zh, s.batch, s.expiresOn ?? null],
        );
      }
    }
    for (const s of seed.shelters) {
      await tx.query(
        `INSERT INTO shelters (id, name_zh, name_en, kind, capacity, lat, lon, address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [s.id, s.name.zh, s.name.en, s.kind, s.capacity, s.location.lat, s.location.lon, s.location.address],
      );
    }
    for (const p of seed.reservePartners) {
      await tx.query(
        `INSERT INTO reserve_partners (id, name_zh, name_en, kind, lat, lon, address, contact_name, contact_phone, lead_time_minutes, capacity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [p.id, p.name.zh, p.name.en, p.kind, p.location.lat, p.location.lon, p.location.address, p.contact.name, p.contact.phone, p.leadTimeMinutes, JSON.stringify(p.capacity)],
      );
    }
    log.info({ teams: seed.teams.length, warehouses: seed.warehouses.length, shelters: seed.shelters.length }, 'loaded demo organisation');
    return true;
  });
}
