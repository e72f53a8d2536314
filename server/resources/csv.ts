import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { withTransaction } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { formatPath } from '../plans/loader.js';
import { MATERIAL_CATEGORY_CODES, MATERIAL_ITEMS, MATERIAL_ITEM_CODES, SPECIALTY_CODES, TEAM_KIND_CODES } from '../../shared/catalogue.js';
import { requireWholeIfCountable } from './quantities.js';
import { userText } from '../../shared/text.js';

/**
 * The bureau keeps its roster and stock in spreadsheets. Columns (header row required, UTF-8,
 * a BOM is accepted and written so Excel shows Chinese):
 *   teams: id,name_zh,name_en,tier,kind,specialties,headcount,base_lat,base_lon,base_address,contact_name,contact_phone[,plan_units]
 *          (specialties and plan_units — the plans' responsible-unit ids the team works for — are codes
 *          separated by ";"; without a plan_units column a team keeps its units). Rows upsert by id; a
 *          team's status and last position are never touched.
 *   stock: warehouse_id,item,category,batch,quantity,unit,min_quantity,expires_on
 *          (category and unit may be left out; if given they must match the catalogue; min_quantity and
 *          expires_on may be empty). Rows upsert by (warehouse_id, item, batch); quantity is the counted
 *          free stock (盘点), i.e. what is not allocated.
 * A file is all or nothing: the first bad row is reported with its line number and nothing is imported.
 */
export const TEAM_COLUMNS = ['id', 'name_zh', 'name_en', 'tier', 'kind', 'specialties', 'headcount', 'base_lat', 'base_lon', 'base_address', 'contact_name', 'contact_phone', 'leader_name', 'leader_phone', 'deputy_name', 'deputy_phone', 'plan_units'] as const;
/** Leader and deputy (叫应 escalation of dispatch orders) and plan units are optional columns. */
const TEAM_REQUIRED = TEAM_COLUMNS.slice(0, 12);
export const STOCK_COLUMNS = ['warehouse_id', 'item', 'category', 'batch', 'quantity', 'unit', 'min_quantity', 'expires_on'] as const;
const STOCK_REQUIRED = ['warehouse_id', 'item', 'batch', 'quantity'];

const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
const num = z.preprocess(emptyToUndefined, z.coerce.number());
const text = userText({ max: 500 });

const teamRow = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids are letters, digits, - and _'),
    name_zh: text,
    name_en: text,
    tier: z.enum(['district', 'street', 'social']),
    kind: z.enum(TEAM_KIND_CODES),
    specialties: z
      .string()
      .transform((s) => s.split(';').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.enum(SPECIALTY_CODES)).min(1, 'at least one specialty')),
    headcount: num.pipe(z.number().int().positive()),
    base_lat: num.pipe(z.number().min(-90).max(90)),
    base_lon: num.pipe(z.number().min(-180).max(180)),
    base_address: text,
    contact_name: text,
    contact_phone: z.string().regex(/^\+?[0-9-]{5,20}$/, 'a phone number'),
    leader_name: z.preprocess(emptyToUndefined, text.optional()),
    leader_phone: z.preprocess(emptyToUndefined, z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 mobile number').optional()),
    deputy_name: z.preprocess(emptyToUndefined, text.optional()),
    deputy_phone: z.preprocess(emptyToUndefined, z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 mobile number').optional()),
    plan_units: z
      .string()
      .transform((s) => s.split(';').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'unit ids are letters, digits, - and _').max(64)).max(20))
      .optional(),
  })
  .strict()
  .refine((t) => !t.leader_name || t.leader_phone, { message: 'leader_name needs leader_phone', path: ['leader_phone'] })
  .refine((t) => !t.deputy_name || t.deputy_phone, { message: 'deputy_name needs deputy_phone', path: ['deputy_phone'] });

const stockRow = z
  .object({
    warehouse_id: text,
    item: z.enum(MATERIAL_ITEM_CODES),
    category: z.preprocess(emptyToUndefined, z.enum(MATERIAL_CATEGORY_CODES).optional()),
    batch: text,
    quantity: num.pipe(z.number().min(0).max(1e10)),
    unit: z.preprocess(emptyToUndefined, z.string().optional()),
    min_quantity: z.preprocess(emptyToUndefined, z.coerce.number().min(0).max(1e10).optional()),
    expires_on: z.preprocess(emptyToUndefined, z.iso.date().optional()),
  })
  .strict()
  .superRefine((r, ctx) => {
    const item = MATERIAL_ITEMS[r.item];
    if (r.category && r.category !== item.category) ctx.addIssue({ code: 'custom', path: ['category'], message: `${r.item} belongs to ${item.category}` });
    if (r.unit && r.unit !== item.unit.zh && r.unit !== item.unit.en) ctx.addIssue({ code: 'custom', path: ['unit'], message: `${r.item} is counted in ${item.unit.zh}` });
  });

function badRow(line: number, message: string, issues: { path: string; message: string }[] = []): AppError {
  return new AppError('invalid_csv', `line ${line}: ${message}`, { line, issues });
}

/** Parses a CSV with a header row into records with their line numbers; bad structure or header → invalid_csv. */
function parseCsv(csv: string, allowed: readonly string[], required: readonly string[]): { line: number; record: Record<string, string> }[] {
  let parsed: { record: Record<string, string>; info: { lines: number } }[];
  try {
    parsed = parse(csv, { columns: true, bom: true, trim: true, skip_empty_lines: true, info: true });
  } catch (err) {
    const line = typeof (err as { lines?: unknown }).lines === 'number' ? ((err as { lines: number }).lines) : 1;
    throw badRow(line, (err as Error).message);
  }
  const header = csv.replace(/^\ufeff/, '').split(/\r?\n/, 1)[0]!.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
  const unknown = header.filter((c) => !allowed.includes(c));
  const missing = required.filter((c) => !header.includes(c));
  if (unknown.length || missing.length) {
    throw badRow(1, `header: ${[unknown.length ? `unknown columns ${unknown.join(', ')}` : '', missing.length ? `missing columns ${missing.join(', ')}` : ''].filter(Boolean).join('; ')}`, [
      ...unknown.map((c) => ({ path: c, message: 'unknown column' })),
      ...missing.map((c) => ({ path: c, message: 'missing column' })),
    ]);
  }
  if (parsed.length === 0) throw badRow(1, 'the file has no data rows');
  return parsed.map((p) => ({ line: p.info.lines, record: Object.fromEntries(Object.entries(p.record).map(([k, v]) => [k, unneutralise(v)])) }));
}

function validate<S extends z.ZodType>(schema: S, line: number, record: Record<string, string>): z.infer<S> {
  const result = schema.safeParse(record);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: formatPath(i.path) || 'row', message: i.message }));
  throw badRow(line, issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
}

function duplicates<T>(rows: { line: number; key: string; value: T }[]): void {
  const seen = new Map<string, number>();
  for (const r of rows) {
    const first = seen.get(r.key);
    if (first !== undefined) throw badRow(r.line, `duplicate of line ${first} (${r.key})`);
    seen.set(r.key, r.line);
  }
}

/**
 * A spreadsheet runs a cell that starts with = + - @ (or tab / CR, which some strip first) as a
 * formula; exported text cells get a leading ' as OWASP recommends, and import removes it again,
 * so an exported file imports back to the same values.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const neutralise = (cell: unknown) => (typeof cell === 'string' && FORMULA_START.test(cell) ? `'${cell}` : cell);
const unneutralise = (cell: string) => (cell.startsWith("'") && FORMULA_START.test(cell.slice(1)) ? cell.slice(1) : cell);

const toCsv = (columns: readonly string[], rows: unknown[][]) => '\ufeff' + stringify(rows.map((r) => r.map(neutralise)), { header: true, columns: [...columns] });

export async function exportTeamsCsv(db: Database): Promise<string> {
  const { rows } = await db.pool.query('SELECT * FROM teams ORDER BY id');
  return toCsv(
    TEAM_COLUMNS,
    rows.map((t) => [t.id, t.name_zh, t.name_en, t.tier, t.kind, t.specialties.join(';'), t.headcount, t.base_lat, t.base_lon, t.base_address, t.contact_name, t.contact_phone, t.leader_name ?? '', t.leader_phone ?? '', t.deputy_name ?? '', t.deputy_phone ?? '', t.plan_units.join(';')]),
  );
}

export async function exportStockCsv(db: Database, warehouseId?: string): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT * FROM stock_lines WHERE ($1::text IS NULL OR warehouse_id = $1) ORDER BY warehouse_id, category, item, batch`,
    [warehouseId ?? null],
  );
  return toCsv(
    STOCK_COLUMNS,
    rows.map((s) => [s.warehouse_id, s.item, s.category, s.batch, s.quantity, s.unit, s.min_quantity ?? '', s.expires_on ?? '']),
  );
}

export async function importTeamsCsv(db: Database, csv: string): Promise<{ created: number; updated: number }> {
  const rows = parseCsv(csv, TEAM_COLUMNS, TEAM_REQUIRED).map(({ line, record }) => ({ line, value: validate(teamRow, line, record) }));
  duplicates(rows.map((r) => ({ ...r, key: r.value.id })));
  return withTransaction(db.pool, async (tx) => {
    let created = 0;
    // Rows are locked in key order, so two imports at once wait for each other instead of deadlocking.
    for (const { value: t } of [...rows].sort((a, b) => a.value.id.localeCompare(b.value.id))) {
      const { rows: res } = await tx.query<{ inserted: boolean }>(
        `INSERT INTO teams (id, name_zh, name_en, tier, kind, specialties, headcount, base_lat, base_lon, base_address, contact_name, contact_phone, leader_name, leader_phone, deputy_name, deputy_phone, plan_units)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, coalesce($17::text[], '{}'))
         ON CONFLICT (id) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, tier = EXCLUDED.tier, kind = EXCLUDED.kind,
           specialties = EXCLUDED.specialties, headcount = EXCLUDED.headcount, base_lat = EXCLUDED.base_lat, base_lon = EXCLUDED.base_lon,
           base_address = EXCLUDED.base_address, contact_name = EXCLUDED.contact_name, contact_phone = EXCLUDED.contact_phone,
           leader_name = EXCLUDED.leader_name, leader_phone = EXCLUDED.leader_phone, deputy_name = EXCLUDED.deputy_name, deputy_phone = EXCLUDED.deputy_phone,
           plan_units = coalesce($17::text[], teams.plan_units)
         RETURNING (xmax = 0) AS inserted`,
        [t.id, t.name_zh, t.name_en, t.tier, t.kind, t.specialties, t.headcount, t.base_lat, t.base_lon, t.base_address, t.contact_name, t.contact_phone, t.leader_name ?? null, t.leader_phone ?? null, t.deputy_name ?? null, t.deputy_phone ?? null, t.plan_units ?? null],
      );
      if (res[0]?.inserted) created++;
    }
    return { created, updated: rows.length - created };
  });
}

export async function importStockCsv(db: Database, csv: string): Promise<{ created: number; updated: number }> {
  const rows = parseCsv(csv, STOCK_COLUMNS, STOCK_REQUIRED).map(({ line, record }) => {
    const value = validate(stockRow, line, record);
    try {
      if (value.quantity > 0) requireWholeIfCountable(value.item, value.quantity, 'quantity');
    } catch {
      throw badRow(line, `quantity: ${value.item} is counted in whole units`, [{ path: 'quantity', message: `${value.item} is counted in whole units` }]);
    }
    return { line, value };
  });
  duplicates(rows.map((r) => ({ ...r, key: `${r.value.warehouse_id}/${r.value.item}/${r.value.batch}` })));
  return withTransaction(db.pool, async (tx) => {
    const { rows: warehouses } = await tx.query<{ id: string }>('SELECT id FROM warehouses');
    const known = new Set(warehouses.map((w) => w.id));
    const unknown = rows.find((r) => !known.has(r.value.warehouse_id));
    if (unknown) throw badRow(unknown.line, `warehouse_id: no warehouse ${unknown.value.warehouse_id}`, [{ path: 'warehouse_id', message: 'unknown warehouse' }]);
    let created = 0;
    const key = (r: (typeof rows)[number]) => `${r.value.warehouse_id}\u0000${r.value.item}\u0000${r.value.batch}`;
    for (const { value: s } of [...rows].sort((a, b) => key(a).localeCompare(key(b)))) {
      const item = MATERIAL_ITEMS[s.item];
      const { rows: res } = await tx.query<{ inserted: boolean }>(
        `INSERT INTO stock_lines (id, warehouse_id, item, category, quantity, min_quantity, unit, batch, expires_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (warehouse_id, item, batch) DO UPDATE SET quantity = EXCLUDED.quantity, min_quantity = EXCLUDED.min_quantity, expires_on = EXCLUDED.expires_on
         RETURNING (xmax = 0) AS inserted`,
        [randomUUID(), s.warehouse_id, s.item, item.category, s.quantity, s.min_quantity ?? null, item.unit.zh, s.batch, s.expires_on ?? null],
      );
      if (res[0]?.inserted) created++;
    }
    return { created, updated: rows.length - created };
  });
}
