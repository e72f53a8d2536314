import type { Queryable } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { UUID } from '../http/validate.js';
import type { CapMsgType, WarningFields, WarningStatus, WarningView } from '../../shared/warnings.js';

export interface WarningRow {
  id: string;
  incident_id: string;
  mode: 'actual' | 'exercise';
  status: WarningStatus;
  msg_type: CapMsgType;
  references_id: string | null;
  template_id: string | null;
  fields: WarningFields;
  identifier: string | null;
  cap_sent: string | null;
  cap_xml: string | null;
  gbt_identifier: string | null;
  gbt_xml: string | null;
  author_id: string;
  approver_id: string | null;
  created_at: Date;
  updated_at: Date;
  approved_at: Date | null;
  audience_size: number | null;
}


export async function findWarning(db: Queryable, id: string, lock = false): Promise<WarningRow | undefined> {
  if (!UUID.test(id)) return undefined;
  const { rows } = await db.query<WarningRow>(`SELECT * FROM warnings WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0];
}

export function warningNotFound(id: string): AppError {
  return new AppError('not_found', `warning ${id} not found`, { warningId: id });
}

export function toView(row: WarningRow, references: string | null): Omit<WarningView, 'delivery' | 'outgoing' | 'acks'> {
  return {
    ...row.fields,
    id: row.id,
    incidentId: row.incident_id,
    mode: row.mode,
    status: row.status,
    msgType: row.msg_type,
    references,
    templateId: row.template_id,
    identifier: row.identifier,
    authorId: row.author_id,
    approverId: row.approver_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    approvedAt: row.approved_at?.toISOString() ?? null,
  };
}
