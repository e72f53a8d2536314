import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { withTransaction, type Database, type Queryable } from '../db/database.js';
import type { IncidentEventBus } from '../incidents/event-log.js';
import type { Logger } from '../log.js';
import { WARNING_EVENT_TYPES } from '../../shared/events.js';
import type { WarningFields } from '../../shared/warnings.js';
import { markExercise } from '../warnings/cap/rules.js';
import type { ExerciseSinks } from '../warnings/exercise-sinks.js';
import { smsBody } from '../warnings/messages.js';
import { twilioClient } from '../warnings/channels/sms.js';
import { retryDelayMs } from '../warnings/worker.js';
import { ACK_SUBJECT, ackSmsSuffix, type AckStep } from './acks.js';
import { DISPATCH_SUBJECT } from './dispatch-steps.js';
import { CHECKLIST_SUBJECT, planChecklistSteps } from './checklist-steps.js';
import { readStoredDoc } from '../checklist/doc-store.js';
import { CHECKLIST_ARRAY, FINISHED_STATUSES, ITEM_FIELDS } from '../../shared/checklist.js';
import type { Plan } from '../../shared/plan.js';
import * as Y from 'yjs';
import { CHECKLIST_EVENT_TYPES, RESOURCE_EVENT_TYPES } from '../../shared/events.js';
import { BackgroundLoops, idleSleepMs, msUntilDue } from '../background/loops.js';

interface ClaimedStep {
  id: string;
  incident_id: string;
  subject: string;
  subject_id: string;
  step: string;
  exercise: boolean;
  attempts: number;
}

interface AckRow {
  id: string;
  warning_id: string;
  recipient_id: string;
  name: string | null;
  phone: string;
  escalation_name: string | null;
  escalation_phone: string | null;
  token: string;
  acked_at: Date | null;
  fields: WarningFields;
  mode: 'actual' | 'exercise';
  msg_type: 'Alert' | 'Update' | 'Cancel';
  status: string;
}

type Action =
  | { kind: 'sms' | 'call'; to: string; body: string; event: { type: string; data: Record<string, unknown> } }
  | { kind: 'board'; body: string; event: { type: string; data: Record<string, unknown> } }
  | { kind: 'skip'; status: 'cancelled' | 'failed' | 'blocked'; reason: string };

interface DispatchRow {
  id: string;
  status: string;
  task: string;
  team_id: string;
  name_zh: string;
  name_en: string;
  leader_name: string | null;
  leader_phone: string | null;
  deputy_name: string | null;
  deputy_phone: string | null;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** TwiML for the voice call: the headline read out in Chinese (text-to-speech), twice. */
export function callTwiml(headline: string): string {
  const say = `<Say language="zh-CN">${escapeXml(`${headline}。收到请回复短信1确认。`)}</Say>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${say}<Pause length="1"/>${say}</Response>`;
}

/**
 * The one escalation scheduler (叫应): every step is an `escalation_steps` row, claimed with
 * FOR UPDATE SKIP LOCKED and marked `sending` in the claiming statement (so no two nodes take it),
 * sent outside any transaction, then marked `done` together with its event-log entry. A row left
 * `sending` by a crashed node becomes `unknown` (Twilio has no idempotency key: never resent
 * blindly), or is taken again when it went to the built-in sink (whose record commits with `done`).
 */
export class EscalationScheduler {
  private readonly background = new BackgroundLoops();
  private readonly twilio: ReturnType<typeof twilioClient>;

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly bus: IncidentEventBus,
    private readonly sinks: ExerciseSinks,
    private readonly publicBase: () => string | null,
    private readonly log: Logger,
    /** What its claims are marked with (`claimed_by`): the cluster's node id. */
    readonly nodeId = `esc-${randomUUID().slice(0, 8)}`,
  ) {
    this.twilio = twilioClient(config);
  }

  start(): void {
    this.background.start(() => this.loop(), () => this.reaperLoop(), () => this.plannerLoop());
  }

  wake(): void {
    this.background.wake();
  }

  stop(): Promise<void> {
    return this.background.stop();
  }

  private async loop(): Promise<void> {
    while (this.background.running) {
      try {
        // As the outbox: idle, a wake-up asks only when the next step is due.
        const wait = await msUntilDue(this.db.pool, `SELECT min(due_at) FROM escalation_steps WHERE status = 'queued'`);
        const batch = wait !== null && wait <= 0 ? await this.claim() : [];
        if (batch.length === 0) {
          await this.background.sleep(idleSleepMs(wait, this.config.ACK_POLL_MS));
          continue;
        }
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(8, batch.length) }, async () => {
            while (next < batch.length) await this.run(batch[next++]!);
          }),
        );
      } catch (err) {
        this.log.error({ err }, 'escalation scheduler error');
        await this.background.sleep(1000);
      }
    }
  }

  private async reaperLoop(): Promise<void> {
    while (this.background.running) {
      try {
        const { rowCount } = await this.db.pool.query(
          `UPDATE escalation_steps SET status = CASE WHEN $2::boolean THEN 'unknown' ELSE 'queued' END,
                  last_error = 'claim expired: the node stopped during the step'
            WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1::float8 / 1000)`,
          [this.config.ACK_CLAIM_TIMEOUT_MS, this.twilio !== null],
        );
        if (rowCount) this.log.warn({ count: rowCount }, 'escalation steps recovered from expired claims');
      } catch (err) {
        this.log.error({ err }, 'escalation reaper error');
      }
      await this.background.sleep(Math.min(5000, Math.max(100, this.config.ACK_CLAIM_TIMEOUT_MS / 4)));
    }
  }

  /** Overdue-checklist steps for active incidents (idempotent inserts, so every node may plan). */
  private async plannerLoop(): Promise<void> {
    while (this.background.running) {
      try {
        if (await planChecklistSteps(this.db.pool, this.config.CHECKLIST_OVERDUE_GRACE_MINUTES)) this.wake();
      } catch (err) {
        this.log.error({ err }, 'checklist step planner error');
      }
      await this.background.sleep(Math.max(1000, this.config.ACK_POLL_MS));
    }
  }

  /** A checklist item still open at its due time: the unit's duty contact, then the commander on the board. */
  private async checklistAction(s: ClaimedStep): Promise<Action> {
    const slash = s.subject_id.indexOf('/');
    const incidentId = s.subject_id.slice(0, slash);
    const itemId = s.subject_id.slice(slash + 1);
    const { rows } = await this.db.pool.query<{ status: string; plan: Plan }>('SELECT status, plan FROM incidents WHERE id::text = $1', [incidentId]);
    const incident = rows[0];
    if (!incident || incident.status !== 'active') return { kind: 'skip', status: 'cancelled', reason: 'incident not active' };
    const doc = await readStoredDoc(this.db.pool, incidentId);
    const item = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY).toArray().find((m) => m instanceof Y.Map && m.get(ITEM_FIELDS.id) === itemId);
    doc.destroy();
    if (!item || item.get(ITEM_FIELDS.inLevel) === false) return { kind: 'skip', status: 'cancelled', reason: 'item not in the checklist' };
    const status = String(item.get(ITEM_FIELDS.status) ?? '');
    if ((FINISHED_STATUSES as readonly string[]).includes(status)) return { kind: 'skip', status: 'cancelled', reason: `item ${status}` };
    const unitId = String(item.get(ITEM_FIELDS.unit) ?? '');
    const unit = incident.plan.command.units.find((u) => u.id === unitId);
    const text = String(item.get(ITEM_FIELDS.text) ?? '');
    const dueAt = typeof item.get(ITEM_FIELDS.dueAt) === 'string' ? String(item.get(ITEM_FIELDS.dueAt)) : null;
    const data = { itemId, text, unit: unitId, unitName: unit?.name ?? null, step: s.step, dueAt };
    if (s.step === 'board') return { kind: 'board', body: '', event: { type: CHECKLIST_EVENT_TYPES.overdueEscalated, data: { ...data, to: null } } };
    if (!unit?.dutyContact) return { kind: 'skip', status: 'failed', reason: `unit ${unitId} has no duty contact` };
    const body = `${s.exercise ? '【演练】' : ''}【检查单到期提醒】${unit.name.zh}：「${text}」已到完成时限，仍未完成，请尽快落实并在系统中更新状态。`;
    return { kind: 'sms', to: unit.dutyContact.phone, body, event: { type: CHECKLIST_EVENT_TYPES.overdueEscalated, data: { ...data, to: unit.dutyContact.name } } };
  }

  private async claim(): Promise<ClaimedStep[]> {
    const { rows } = await this.db.pool.query<ClaimedStep>(
      `UPDATE escalation_steps s SET status = 'sending', attempts = s.attempts + 1, claimed_by = $2, claimed_at = now()
         FROM (SELECT id FROM escalation_steps WHERE status = 'queued' AND due_at <= now()
                ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due
        WHERE s.id = due.id
        RETURNING s.id::text, s.incident_id, s.subject, s.subject_id, s.step, s.exercise, s.attempts`,
      [this.config.WARNING_BATCH_SIZE, this.nodeId],
    );
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** May this exercise step reach that number? Only drill sinks and drill-only recipients. */
  private async drillTarget(phone: string): Promise<boolean> {
    if (this.sinks.smsNumbers.includes(phone)) return true;
    const { rows } = await this.db.pool.query<{ ok: boolean | null }>('SELECT bool_and(drill) AS ok FROM warning_recipients WHERE phone = $1', [phone]);
    return rows[0]?.ok === true;
  }

  private async loadAck(id: string): Promise<AckRow | undefined> {
    const { rows } = await this.db.pool.query<AckRow>(
      `SELECT a.id::text, a.warning_id, a.recipient_id, a.name, a.phone, a.escalation_name, a.escalation_phone, a.token, a.acked_at, w.fields, w.mode, w.msg_type, w.status
         FROM warning_acks a JOIN warnings w ON w.id = a.warning_id WHERE a.id::text = $1`,
      [id],
    );
    return rows[0];
  }

  /** A dispatch order (任务单) still `dispatched`: its team leader, then deputy, by SMS; then the board. */
  private async dispatchAction(s: ClaimedStep): Promise<Action> {
    const { rows } = await this.db.pool.query<DispatchRow>(
      `SELECT d.id::text, d.status, d.task, d.team_id, t.name_zh, t.name_en, t.leader_name, t.leader_phone, t.deputy_name, t.deputy_phone
         FROM dispatches d JOIN teams t ON t.id = d.team_id WHERE d.id::text = $1`,
      [s.subject_id],
    );
    const d = rows[0];
    if (!d) return { kind: 'skip', status: 'failed', reason: 'dispatch gone' };
    if (d.status !== 'dispatched') return { kind: 'skip', status: 'cancelled', reason: `order ${d.status}` };
    const teamName = { zh: d.name_zh, en: d.name_en };
    const data = { dispatchId: d.id, teamId: d.team_id, teamName, step: s.step };
    if (s.step === 'board') return { kind: 'board', body: '', event: { type: RESOURCE_EVENT_TYPES.dispatchAckEscalated, data: { ...data, to: null } } };
    const person = s.step === 'leader' ? { name: d.leader_name, phone: d.leader_phone } : { name: d.deputy_name, phone: d.deputy_phone };
    if (!person.phone) return { kind: 'skip', status: 'failed', reason: `team ${d.team_id} has no ${s.step} number` };
    const body = `${s.exercise ? '【演练】' : ''}【任务单未接令】${d.name_zh}尚未确认指挥部任务单：${d.task}。请立即督促接令（现场App点“已接令”）。`;
    return { kind: 'sms', to: person.phone, body, event: { type: RESOURCE_EVENT_TYPES.dispatchAckEscalated, data: { ...data, to: person.name } } };
  }

  private async action(s: ClaimedStep): Promise<{ action: Action; ack?: AckRow }> {
    if (s.subject === DISPATCH_SUBJECT || s.subject === CHECKLIST_SUBJECT) {
      const action = s.subject === DISPATCH_SUBJECT ? await this.dispatchAction(s) : await this.checklistAction(s);
      if ((action.kind === 'sms' || action.kind === 'call') && s.exercise && !(await this.drillTarget(action.to))) return { action: { kind: 'skip', status: 'blocked', reason: 'exercise: target is not a drill sink' } };
      return { action };
    }
    if (s.subject !== ACK_SUBJECT) return { action: { kind: 'skip', status: 'failed', reason: `unknown subject ${s.subject}` } };
    const ack = await this.loadAck(s.subject_id);
    if (!ack) return { action: { kind: 'skip', status: 'failed', reason: 'acknowledgement row gone' } };
    if (ack.acked_at) return { ack, action: { kind: 'skip', status: 'cancelled', reason: 'answered' } };
    if (ack.status !== 'sent') return { ack, action: { kind: 'skip', status: 'cancelled', reason: `warning ${ack.status}` } };
    const exercise = ack.mode === 'exercise';
    const headline = markExercise(ack.fields.headline.zh, 'zh', exercise);
    const step = s.step as AckStep;
    const event = (to: string | null, channel: 'sms' | 'call') => ({
      type: WARNING_EVENT_TYPES.ackEscalated,
      data: { warningId: ack.warning_id, recipientId: ack.recipient_id, name: ack.name, step: s.step, channel, to },
    });
    let action: Action;
    if (step === 'resend') {
      const body = `【叫应·重发】${smsBody(ack.fields, { exercise, msgType: ack.msg_type })}\n${ackSmsSuffix(this.publicBase(), ack.token)}`;
      action = { kind: 'sms', to: ack.phone, body, event: event(ack.name, 'sms') };
    } else if (step === 'call') {
      action = { kind: 'call', to: ack.phone, body: callTwiml(headline), event: event(ack.name, 'call') };
    } else if (step === 'escalate') {
      if (!ack.escalation_phone) return { ack, action: { kind: 'skip', status: 'failed', reason: 'no escalation contact' } };
      const body = `${exercise ? '【演练】' : ''}【叫应未应答】${ack.name ?? ack.phone} 未确认收到预警「${headline}」，已重发并电话呼叫，请您督促落实。`;
      action = { kind: 'sms', to: ack.escalation_phone, body, event: event(ack.escalation_name, 'sms') };
    } else return { ack, action: { kind: 'skip', status: 'failed', reason: `unknown step ${s.step}` } };
    // Exercise isolation: an exercise escalates only to drill targets, whatever is stored.
    if (s.exercise && !(await this.drillTarget(action.to))) return { ack, action: { kind: 'skip', status: 'blocked', reason: 'exercise: target is not a drill sink' } };
    return { ack, action };
  }

  private async run(s: ClaimedStep): Promise<void> {
    const { action } = await this.action(s);
    if (action.kind === 'skip') {
      if (action.status === 'blocked') this.log.error({ step: s.id }, 'exercise escalation to a non-drill target refused');
      await this.db.pool.query(`UPDATE escalation_steps SET status = $2, last_error = $3, done_at = now() WHERE id = $1::bigint AND status = 'sending'`, [s.id, action.status, action.reason]);
      return;
    }
    let providerId = 'sink';
    if (this.twilio && action.kind !== 'board') {
      try {
        if (action.kind === 'sms') providerId = (await this.twilio.messages.create({ to: action.to, from: this.config.TWILIO_FROM!, body: action.body })).sid;
        else providerId = (await this.twilio.calls.create({ to: action.to, from: this.config.TWILIO_FROM!, twiml: action.body })).sid;
      } catch (err) {
        const status = (err as { status?: number }).status;
        const message = `twilio ${status ?? 'network'}: ${(err as Error).message}`;
        const permanent = status !== undefined && status >= 400 && status < 500 && status !== 429;
        if (permanent || s.attempts >= this.config.WARNING_MAX_ATTEMPTS) {
          await this.db.pool.query(`UPDATE escalation_steps SET status = 'failed', last_error = $2 WHERE id = $1::bigint`, [s.id, message]);
        } else {
          await this.db.pool.query(
            `UPDATE escalation_steps SET status = 'queued', last_error = $2, due_at = now() + make_interval(secs => $3::float8 / 1000) WHERE id = $1::bigint`,
            [s.id, message, retryDelayMs(s.attempts, this.config.WARNING_RETRY_BASE_MS)],
          );
        }
        return;
      }
    }
    // Done and its event commit together; for the sink this is also the record of what was "sent".
    await withTransaction(this.db.pool, async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE escalation_steps SET status = 'done', provider_id = $2, address = $3, body = $4, done_at = now(), last_error = NULL WHERE id = $1::bigint AND status = 'sending'`,
        [s.id, action.kind === 'board' ? 'board' : providerId, action.kind === 'board' ? null : action.to, action.body],
      );
      if (!rowCount) return; // reclaimed meanwhile (a stalled node): the other claim owns it now
      const event = await this.bus.record(tx, { incidentId: s.incident_id, type: action.event.type, actor: null, data: action.event.data });
    });
  }
}

/** Steps of one warning, in order (for the deliveries view and the tests). */
export async function escalationSteps(db: Queryable, warningId: string) {
  const { rows } = await db.query(
    `SELECT s.id::text, s.step, s.status, s.due_at AS "dueAt", s.done_at AS "doneAt", s.address, s.body, s.provider_id AS "providerId", s.attempts, s.last_error AS "lastError", a.recipient_id AS "recipientId", a.name
       FROM escalation_steps s JOIN warning_acks a ON s.subject = '${ACK_SUBJECT}' AND s.subject_id = a.id::text
      WHERE a.warning_id = $1 ORDER BY s.due_at, s.id`,
    [warningId],
  );
  return rows;
}
