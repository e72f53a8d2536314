import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Config } from '../config.js';
import { withTransaction, type Database, type Queryable } from '../db/database.js';
import { authorize, type Actor } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentRecord, IncidentService } from '../incidents/incidents.js';
import { WARNING_EVENT_TYPES } from '../../shared/events.js';
import { draftInputSchema, editInputSchema, warningFieldsSchema, type CapMsgType, type WarningFields, type WarningProgress, type WarningView } from '../../shared/warnings.js';
import { buildCapAlert } from './cap/build.js';
import { buildGbtAlert } from './gbt35965/build.js';
import { allocateGbtIdentifier, gbtExtendedTime, unitCode } from './gbt35965/rules.js';
import { CAP_SENDER, capDateTime, capIdentifier } from './cap/rules.js';
import { checkChannelLimits, outgoingMessages } from './messages.js';
import { enqueueDeliveries } from './outbox.js';
import { queuedProgress, warningProgress } from './progress.js';
import { findWarning, toView, warningNotFound, type WarningRow } from './store.js';
import type { ExerciseSinks } from './exercise-sinks.js';
import { parseInput } from '../http/validate.js';
import { ackSummary, createAcks } from '../acknowledgements/acks.js';

export type DraftInput = z.infer<typeof draftInputSchema>;
export type EditInput = z.infer<typeof editInputSchema>;

/**
 * Compose → approve → send (拟稿 / 审核 / 签发). Each step and its event-log entry commit in one
 * transaction; approval also writes the CAP alert and the whole outbox in that transaction.
 */
export class WarningService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
    private readonly config: Config,
    private readonly sinks: ExerciseSinks,
    private readonly onEnqueued: () => void,
    /** The server's public base URL, for CAP <web>; null when unknown. */
    private readonly publicUrl: () => string | null = () => null,
  ) {}

  async draft(actor: Actor, incidentId: string, input: DraftInput): Promise<WarningView> {
    const incident = await this.incidents.get(actor, incidentId);
    authorize(actor, 'warning.draft', { incident });
    const { template: templateId, ...overrides } = input;
    let base: Partial<WarningFields> = {};
    if (templateId) {
      const templates = incident.plan.levels[incident.level]?.warningTemplates ?? [];
      const template = templates.find((t) => t.id === templateId);
      if (!template) throw new AppError('unknown_template', `level ${incident.level} of plan ${incident.planId} has no warning template ${templateId}`, { template: templateId, known: templates.map((t) => t.id) });
      const { id: _id, ...rest } = template;
      base = rest;
    }
    const fields = parseInput(warningFieldsSchema, { ...base, ...overrides });
    checkChannelLimits(fields, { exercise: incident.mode === 'exercise', msgType: 'Alert' });
    return this.insertDraft(actor, incident, fields, { msgType: 'Alert', templateId: templateId ?? null, referencesId: null });
  }

  async edit(actor: Actor, id: string, input: EditInput): Promise<WarningView> {
    return this.inTx(async (tx) => {
      const { row, incident } = await this.lockVisible(tx, actor, id);
      authorize(actor, 'warning.edit', { incident });
      if (row.status !== 'draft') throw new AppError('warning_not_draft', `warning ${id} is ${row.status}; only drafts can be edited`, { status: row.status });
      const fields = parseInput(warningFieldsSchema, { ...row.fields, ...input });
      checkChannelLimits(fields, { exercise: row.mode === 'exercise', msgType: row.msg_type });
      await tx.query('UPDATE warnings SET fields = $2, updated_at = now() WHERE id = $1', [id, JSON.stringify(fields)]);
      await this.bus.record(tx, { incidentId: row.incident_id, type: WARNING_EVENT_TYPES.edited, actor, data: { warningId: id, changed: Object.keys(input) } });
      return this.view(tx, (await findWarning(tx, id))!);
    });
  }

  /** A new draft of type Update or Cancel referencing a sent warning; approved like any other. */
  async follow(actor: Actor, id: string, msgType: 'Update' | 'Cancel', input: EditInput): Promise<WarningView> {
    const original = await findWarning(this.db.pool, id);
    if (!original) throw warningNotFound(id);
    const incident = await this.visibleIncident(actor, original);
    authorize(actor, 'warning.edit', { incident });
    if (original.status !== 'sent') throw new AppError('warning_not_sent', `warning ${id} is ${original.status}; only a sent, current warning can be updated or cancelled`, { status: original.status });
    let base: WarningFields = original.fields;
    if (msgType === 'Cancel') {
      base = {
        ...base,
        headline: { zh: `解除：${base.headline.zh}`, en: `Cancelled: ${base.headline.en}` },
        text: { zh: `【解除】${base.headline.zh}已解除。`, en: `${base.headline.en} has been cancelled.` },
        instruction: undefined,
      };
    }
    const fields = parseInput(warningFieldsSchema, JSON.parse(JSON.stringify({ ...base, ...input })));
    checkChannelLimits(fields, { exercise: incident.mode === 'exercise', msgType });
    return this.insertDraft(actor, incident, fields, { msgType, templateId: original.template_id, referencesId: original.id });
  }

  async approve(actor: Actor, id: string): Promise<WarningView> {
    const result = await this.inTx(async (tx) => {
      const { row, incident } = await this.lockVisible(tx, actor, id);
      // A closed incident may still update or cancel (解除) its warnings, but issues no new alert: the policy knows.
      authorize(actor, 'warning.approve', { incident, msgType: row.msg_type });
      if (row.status !== 'draft') throw new AppError('warning_not_draft', `warning ${id} is ${row.status}; only drafts can be approved`, { status: row.status });
      if (this.config.WARNING_TWO_PERSON && row.mode === 'actual' && row.author_id === actor.userId) {
        throw new AppError('two_person_rule', 'two-person rule: a warning must be approved by someone other than its author', { authorId: row.author_id });
      }
      const fields = row.fields;
      const audience = fields.audience;
      if (!audience.public && !(audience.roles?.length) && !(audience.teams?.length)) {
        throw new AppError('empty_audience', 'the audience names no roles, no teams and not the public', { audience });
      }
      let references: string | null = null;
      let original: WarningRow | undefined;
      if (row.references_id) {
        original = await findWarning(tx, row.references_id, true);
        if (!original || original.status !== 'sent') throw new AppError('warning_not_sent', `the warning this ${row.msg_type} refers to is no longer current`, { references: row.references_id });
        references = `${CAP_SENDER},${original.identifier},${original.cap_sent}`;
      }
      const now = new Date();
      const identifier = capIdentifier(now, row.id);
      const sent = capDateTime(now);
      const expires = capDateTime(new Date(now.getTime() + (fields.validHours ?? this.config.WARNING_DEFAULT_VALID_HOURS) * 3600_000));
      const base = this.publicUrl();
      const web = row.mode === 'actual' && base ? `${base}/cap/alerts/${row.id}.xml` : null;
      const contact = await dutyContact(tx);
      const capXml = buildCapAlert({ identifier, sent, mode: row.mode, msgType: row.msg_type, hazard: incident.hazard, fields, references, incidentId: incident.id, expires, web, contact });
      const unit = { division: this.config.GBT35965_DIVISION_CODE, institution: this.config.GBT35965_INSTITUTION_CODE, unit: this.config.GBT35965_UNIT_CODE, extension: this.config.GBT35965_EXTENSION_CODE };
      const gbt = await allocateGbtIdentifier(tx, unit, now);
      const gbtXml = buildGbtAlert({
        identifier: gbt.identifier, senderCode: unitCode(unit), sendTime: gbtExtendedTime(now), mode: row.mode, msgType: row.msg_type, hazard: incident.hazard, fields,
        references: original?.gbt_identifier ?? null, expires: gbtExtendedTime(new Date(Date.parse(expires))), web, contact, divisionCode: this.config.GBT35965_DIVISION_CODE,
      });
      const counts = await enqueueDeliveries(tx, { warningId: id, fields, exercise: row.mode === 'exercise', sinks: this.sinks });
      const people = counts.sms + counts.push;
      if (people === 0 && !fields.channels.includes('broadcast')) {
        throw new AppError('empty_audience', 'no recipient or subscription matches the audience and area on the chosen channels', { queued: counts });
      }
      const total = counts.sms + counts.push + counts.broadcast;
      const ackRequired = await createAcks(tx, { warningId: id, incidentId: incident.id, fields, approvedAt: now, exercise: row.mode === 'exercise' });
      await tx.query(
        `UPDATE warnings SET status = 'sent', identifier = $2, cap_sent = $3, cap_xml = $4, approver_id = $5, approved_at = $6, audience_size = $7, updated_at = $6,
                gbt_identifier = $8, gbt_xml = $9 WHERE id = $1`,
        [id, identifier, sent, capXml, actor.userId, now, total, gbt.identifier, gbtXml],
      );
      if (original) {
        await tx.query(`UPDATE warnings SET status = $2, updated_at = now() WHERE id = $1`, [original.id, row.msg_type === 'Cancel' ? 'cancelled' : 'superseded']);
        // What the original had not yet sent is withdrawn; what it sent stays on record.
        await tx.query(`UPDATE warning_deliveries SET status = 'cancelled' WHERE warning_id = $1 AND status = 'queued'`, [original.id]);
      }
      await this.bus.record(tx, {
        incidentId: row.incident_id,
        type: WARNING_EVENT_TYPES.approved,
        actor,
        data: { warningId: id, msgType: row.msg_type, identifier, gbtIdentifier: gbt.identifier, references: row.references_id, colour: fields.colour, status: row.mode === 'exercise' ? 'Exercise' : 'Actual', queued: counts, ...(fields.acknowledgement ? { ackRequired, ackWithinMinutes: fields.acknowledgement.withinMinutes } : {}) },
      });
      // The outbox rows were written just now and are all queued: the counts are the progress.
      const approved = (await findWarning(tx, id))!;
      return this.view(tx, approved, { delivery: queuedProgress(counts, approved.approved_at!, fields.channels), noAcks: ackRequired === 0 });
    });
    this.onEnqueued();
    return result;
  }

  async get(actor: Actor, id: string): Promise<{ row: WarningRow; view: WarningView }> {
    const row = await findWarning(this.db.pool, id);
    if (!row) throw warningNotFound(id);
    await this.visibleIncident(actor, row);
    return { row, view: await this.view(this.db.pool, row) };
  }

  /** The stored row of a warning whose deliveries (addresses, receipts) and sink the actor may read. */
  async forDeliveries(actor: Actor, id: string): Promise<WarningRow> {
    const row = await findWarning(this.db.pool, id);
    if (!row) throw warningNotFound(id);
    const incident = await this.visibleIncident(actor, row);
    authorize(actor, 'warning.deliveries', { incident });
    return row;
  }

  async list(actor: Actor, incidentId: string): Promise<WarningView[]> {
    const incident = await this.incidents.get(actor, incidentId);
    const { rows } = await this.db.pool.query<WarningRow>('SELECT * FROM warnings WHERE incident_id = $1 ORDER BY created_at', [incident.id]);
    return Promise.all(rows.map((r) => this.view(this.db.pool, r)));
  }

  private async insertDraft(actor: Actor, incident: IncidentRecord, fields: WarningFields, opts: { msgType: CapMsgType; templateId: string | null; referencesId: string | null }): Promise<WarningView> {
    return this.inTx(async (tx) => {
      const id = randomUUID();
      await tx.query(
        `INSERT INTO warnings (id, incident_id, mode, status, msg_type, references_id, template_id, fields, author_id)
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8)`,
        [id, incident.id, incident.mode, opts.msgType, opts.referencesId, opts.templateId, JSON.stringify(fields), actor.userId],
      );
      await this.bus.record(tx, {
        incidentId: incident.id,
        type: WARNING_EVENT_TYPES.drafted,
        actor,
        data: { warningId: id, msgType: opts.msgType, template: opts.templateId, references: opts.referencesId, colour: fields.colour, channels: fields.channels, headline: fields.headline },
      });
      return this.view(tx, (await findWarning(tx, id))!);
    });
  }

  /** `known`: what the caller already knows (approval: its fresh outbox, whether anyone must answer). */
  private async view(db: Queryable, row: WarningRow, known: { delivery?: WarningProgress; noAcks?: boolean } = {}): Promise<WarningView> {
    let references: string | null = null;
    if (row.references_id) references = (await findWarning(db, row.references_id))?.identifier ?? null;
    return {
      ...toView(row, references),
      delivery: row.status === 'draft' ? null : (known.delivery ?? (await warningProgress(db, row.id, row.approved_at, row.fields.channels))),
      acks: row.status === 'draft' || known.noAcks ? null : await ackSummary(db, row.id, row.approved_at),
      outgoing: outgoingMessages(row.fields, { exercise: row.mode === 'exercise', msgType: row.msg_type }),
    };
  }

  private async visibleIncident(actor: Actor, row: WarningRow, db?: Queryable): Promise<IncidentRecord> {
    try {
      return await this.incidents.get(actor, row.incident_id, db);
    } catch {
      throw warningNotFound(row.id);
    }
  }

  private async lockVisible(tx: Queryable, actor: Actor, id: string): Promise<{ row: WarningRow; incident: IncidentRecord }> {
    const row = await findWarning(tx, id, true);
    if (!row) throw warningNotFound(id);
    return { row, incident: await this.visibleIncident(actor, row, tx) };
  }

  private inTx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return withTransaction(this.db.pool, fn);
  }
}

/** The command centre's duty line from the organisation data, as CAP <contact> shows it. */
async function dutyContact(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ value: { name: { zh: string; en: string }; dutyPhone: string } }>(`SELECT value FROM settings WHERE key = 'command_centre'`);
  const cc = rows[0]?.value;
  return cc ? `${cc.name.zh}值班室 ${cc.dutyPhone} / ${cc.name.en} duty line` : '12350';
}
