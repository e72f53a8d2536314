import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { withTransaction, type Database } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { userText } from '../../shared/text.js';

export const phoneSchema = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number like +8613800000000');

const optionalNumber = (min: number, max: number) =>
  z.preprocess((v) => (v === '' || v === undefined ? undefined : Number(v)), z.number().min(min).max(max).optional());

const rowSchema = z
  .object({
    name: userText({ max: 100, allowEmpty: true }).optional(),
    phone: phoneSchema,
    kind: z.enum(['responder', 'public']).default('public'),
    role: userText({ max: 50, allowEmpty: true }).optional().transform((v) => v || undefined),
    team: userText({ max: 50, allowEmpty: true }).optional().transform((v) => v || undefined),
    lat: optionalNumber(-90, 90),
    lon: optionalNumber(-180, 180),
    drill: z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).optional().transform((v) => v === 'true' || v === '1' || v === 'yes'),
    /** 责任人: must answer (叫应) warnings that ask for acknowledgement. */
    responsible: z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).optional().transform((v) => v === 'true' || v === '1' || v === 'yes'),
    escalation_name: userText({ max: 100, allowEmpty: true }).optional().transform((v) => v || undefined),
    escalation_phone: z.union([phoneSchema, z.literal('')]).optional().transform((v) => v || undefined),
    account: userText({ max: 100, allowEmpty: true }).optional().transform((v) => v || undefined),
  })
  .strict()
  .refine((r) => !r.escalation_name || r.escalation_phone, { message: 'escalation_name needs escalation_phone' })
  .refine((r) => r.escalation_phone !== r.phone, { message: 'a person cannot be their own escalation contact' })
  .refine((r) => (r.lat === undefined) === (r.lon === undefined), { message: 'lat and lon go together' })
  .refine((r) => r.kind !== 'public' || r.lat !== undefined, { message: 'a public subscriber needs a location (lat, lon) for area targeting' });

export type RecipientRow = z.infer<typeof rowSchema>;

export const importBodySchema = z
  .object({
    list: userText({ max: 100 }),
    csv: z.string().min(1).max(20 * 1024 * 1024),
    /** Mark every imported row as a drill recipient (may receive exercise warnings). */
    drill: z.boolean().optional(),
  })
  .strict();

/**
 * Parses a recipient list: header `name,phone,kind,role,team,lat,lon,drill` and optionally
 * `responsible,escalation_name,escalation_phone,account` (叫应). The first bad row
 * fails the whole import with its line number; nothing is written.
 */
export function parseRecipientsCsv(csv: string): RecipientRow[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(csv, { columns: true, skip_empty_lines: true, trim: true, bom: true, info: true });
  } catch (err) {
    const line = (err as { lines?: number }).lines ?? null;
    throw new AppError('invalid_csv', `CSV syntax error${line ? ` at line ${line}` : ''}: ${(err as Error).message}`, { line });
  }
  if (records.length === 0) throw new AppError('invalid_csv', 'the CSV has no rows', { line: 1 });
  const seen = new Map<string, number>();
  return records.map(({ record, info }) => {
    const result = rowSchema.safeParse(record);
    if (result.success) {
      const first = seen.get(result.data.phone);
      if (first) throw new AppError('invalid_csv', `line ${info.lines}: phone ${result.data.phone} is already on line ${first}`, { line: info.lines, issues: [{ column: 'phone', message: `duplicate of line ${first}` }] });
      seen.set(result.data.phone, info.lines);
    }
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ column: i.path.join('.') || null, message: i.message }));
      throw new AppError('invalid_csv', `line ${info.lines}: ${issues.map((i) => `${i.column ?? 'row'}: ${i.message}`).join('; ')}`, { line: info.lines, issues });
    }
    return result.data;
  });
}

/** Inserts (or refreshes) a whole list in one transaction with one multi-row statement. */
export async function importRecipients(db: Database, list: string, rows: RecipientRow[], drillAll: boolean): Promise<number> {
  return withTransaction(db.pool, async (tx) => {
    const res = await tx.query(
      `INSERT INTO warning_recipients (id, list, kind, name, phone, role, team_id, lat, lon, drill, responsible, escalation_name, escalation_phone, account)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[], $10::boolean[],
                            $11::boolean[], $12::text[], $13::text[], $14::text[])
       ON CONFLICT (list, phone) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, role = EXCLUDED.role, team_id = EXCLUDED.team_id,
         lat = EXCLUDED.lat, lon = EXCLUDED.lon, drill = EXCLUDED.drill, responsible = EXCLUDED.responsible,
         escalation_name = EXCLUDED.escalation_name, escalation_phone = EXCLUDED.escalation_phone, account = EXCLUDED.account`,
      [
        rows.map(() => randomUUID()),
        rows.map(() => list),
        rows.map((r) => r.kind),
        rows.map((r) => r.name ?? null),
        rows.map((r) => r.phone),
        rows.map((r) => r.role ?? null),
        rows.map((r) => r.team ?? null),
        rows.map((r) => r.lat ?? null),
        rows.map((r) => r.lon ?? null),
        rows.map((r) => drillAll || r.drill),
        rows.map((r) => r.responsible),
        rows.map((r) => r.escalation_name ?? null),
        rows.map((r) => r.escalation_phone ?? null),
        rows.map((r) => r.account ?? null),
      ],
    );
    return res.rowCount ?? 0;
  });
}

export const RECIPIENT_CSV_COLUMNS = ['name', 'phone', 'kind', 'role', 'team', 'lat', 'lon', 'drill', 'responsible', 'escalation_name', 'escalation_phone', 'account'] as const;

/** One list as CSV in the import's own columns (import ∘ export is the identity). */
export async function exportRecipientsCsv(db: Database, list: string): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT name, phone, kind, role, team_id AS team, lat, lon, drill, responsible, escalation_name, escalation_phone, account
       FROM warning_recipients WHERE list = $1 ORDER BY created_at, phone`,
    [list],
  );
  // A cell a spreadsheet would run as a formula gets a leading apostrophe.
  const safe = (v: unknown) => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    const s = String(v);
    return /^[=+\-@\t\r]/.test(s) && !/^\+\d+$/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  };
  return stringify(rows.map((r) => RECIPIENT_CSV_COLUMNS.map((c) => safe((r as Record<string, unknown>)[c]))), { header: true, columns: [...RECIPIENT_CSV_COLUMNS], bom: false });
}
