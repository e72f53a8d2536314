/**
 * Computes an incident's after-action review from its event log (the one timeline) and the
 * stored rows it points at: the checklist doc (items and their current status), teams (their
 * specialties), warning deliveries (the coverage curve) and the improvement items. Nothing in it
 * is typed by hand; the same incident gives the same review until something new is logged.
 */
import * as Y from 'yjs';
import type { Queryable } from '../db/database.js';
import { listEvents, verifyEvents } from '../incidents/event-log.js';
import type { IncidentRecord } from '../incidents/incidents.js';
import { readStoredDoc } from '../checklist/doc-store.js';
import { CHECKLIST_ARRAY, CHECKLIST_ITEM_STATUS_EVENT, FINISHED_STATUSES, type ChecklistItem } from '../../shared/checklist.js';
import { EVENT_TYPES, FIELD_EVENT_TYPES, RESOURCE_EVENT_TYPES, WARNING_EVENT_TYPES, type IncidentEvent } from '../../shared/events.js';
import { effectiveChecklist } from '../../shared/plan.js';
import { MATERIAL_ITEMS, SPECIALTIES } from '../../shared/catalogue.js';
import type { Bilingual, ResponseLevel, WarningChannel, WarningColour } from '../../shared/labels.js';
import type { DrillReviewSource } from '../../shared/drill-review.js';
import type {
  Review,
  ReviewAck,
  ReviewChecklistItem,
  ReviewDispatch,
  ReviewImprovement,
  ReviewLevelSpan,
  ReviewMaterial,
  ReviewParticipant,
  ReviewReport,
  ReviewTeamRequirement,
  ReviewUnitRow,
  ReviewWarning,
} from '../../shared/review.js';

/** Written by the acknowledgement (叫应) module; read here when present. */
export const WARNING_ACK_EVENT = 'warning.ack_received';

const ms = (iso: string) => Date.parse(iso);
/** Minutes between two ISO times, one decimal; null when either is missing. */
export function minutesBetween(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  return Math.round((ms(to) - ms(from)) / 6_000) / 10;
}
const pct = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 1000) / 10);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bilingual = (v: unknown): Bilingual | null =>
  v && typeof v === 'object' && typeof (v as Bilingual).zh === 'string' ? { zh: (v as Bilingual).zh, en: String((v as Bilingual).en ?? '') } : null;

export interface ComputeOptions {
  drillSource?: DrillReviewSource;
  improvements?: (incidentId: string) => Promise<ReviewImprovement[]>;
  now?: Date;
}

/** The chain head, then every event up to it in seq order: one consistent view even while entries are appended. */
async function allEvents(db: Queryable, incidentId: string): Promise<{ events: IncidentEvent[]; head: { lastSeq: number; lastHash: string } }> {
  const { rows } = await db.query<{ last_seq: number; last_hash: string }>('SELECT last_seq, last_hash FROM incidents WHERE id = $1', [incidentId]);
  const head = { lastSeq: rows[0]?.last_seq ?? 0, lastHash: rows[0]?.last_hash ?? '' };
  const events: IncidentEvent[] = [];
  for (let after = 0; after < head.lastSeq; ) {
    const page = await listEvents(db, incidentId, { afterSeq: after, limit: Math.min(5000, head.lastSeq - after) });
    events.push(...page);
    if (page.length === 0) break;
    after = page[page.length - 1]!.seq;
  }
  return { events: events.filter((e) => e.seq <= head.lastSeq), head };
}

export async function computeReview(db: Queryable, incident: IncidentRecord, opts: ComputeOptions = {}): Promise<Review> {
  const now = (opts.now ?? new Date()).toISOString();
  const { events, head } = await allEvents(db, incident.id);
  // Times as the log recorded them (the incident row's own stamps differ by the transaction's few ms).
  const activatedAt = events.find((e) => e.type === EVENT_TYPES.incidentActivated)?.at ?? incident.activatedAt;
  const closedAt = incident.status === 'closed' ? ([...events].reverse().find((e) => e.type === EVENT_TYPES.incidentClosed)?.at ?? incident.closedAt) : null;
  const end = closedAt ?? now;
  const unitNames = new Map(incident.plan.command.units.map((u) => [u.id, u.name]));

  // --- summary: levels over time, participants
  const levels: ReviewLevelSpan[] = [];
  const participants = new Map<string, ReviewParticipant>();
  let closeSummary: string | null = null;
  for (const e of events) {
    if (e.actor) {
      const p = participants.get(e.actor.id) ?? { id: e.actor.id, name: e.actor.name, displayName: e.actor.displayName ?? null, events: 0 };
      p.events++;
      if (e.actor.displayName) p.displayName = e.actor.displayName;
      participants.set(e.actor.id, p);
    }
    if (e.type === EVENT_TYPES.incidentActivated) levels.push({ level: e.data.level as ResponseLevel, from: e.at, to: null, minutes: 0 });
    if (e.type === EVENT_TYPES.incidentLevelChanged) {
      const last = levels[levels.length - 1];
      if (last) last.to = e.at;
      levels.push({ level: e.data.to as ResponseLevel, from: e.at, to: null, minutes: 0 });
    }
    if (e.type === EVENT_TYPES.incidentClosed) {
      const last = levels[levels.length - 1];
      if (last) last.to = e.at;
      closeSummary = str(e.data.summary);
    }
  }
  for (const span of levels) span.minutes = minutesBetween(span.from, span.to ?? end) ?? 0;

  // --- checklist: the items as stored, finishing times from the milestones
  const finished = new Map<string, { at: string; to: string; by: ReviewChecklistItem['by'] }>();
  for (const e of events) {
    if (e.type !== CHECKLIST_ITEM_STATUS_EVENT) continue;
    const id = String(e.data.itemId);
    const to = String(e.data.to);
    if ((FINISHED_STATUSES as readonly string[]).includes(to)) {
      const by = e.data.by as { id: string; name: string; role: string } | undefined;
      finished.set(id, { at: e.at, to, by: by ? { id: by.id, name: by.name, role: by.role } : null });
    } else finished.delete(id);
  }
  const doc = await readStoredDoc(db, incident.id);
  let docItems = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY).toJSON() as ChecklistItem[];
  doc.destroy();
  if (docItems.length === 0) {
    // Nobody opened the checklist yet: the plan's items at the current level, all to do.
    docItems = effectiveChecklist(incident.plan, incident.level).map((t) => ({
      id: t.id, text: t.text.zh, textEn: t.text.en, unit: t.unit, phase: t.phase, level: t.level, dueMinutes: t.dueMinutes,
      dueAt: new Date(ms(incident.activatedAt) + t.dueMinutes * 60_000).toISOString(), dependsOn: t.dependsOn ?? [], inLevel: true, status: 'todo', note: '',
    }));
  }
  const items: ReviewChecklistItem[] = docItems.map((it) => {
    const status = (['todo', 'doing', 'done', 'skipped'] as const).includes(it.status) ? it.status : 'todo';
    const fin = (FINISHED_STATUSES as readonly string[]).includes(status) ? finished.get(it.id) : undefined;
    const dueAt = typeof it.dueAt === 'string' ? it.dueAt : null;
    return {
      id: it.id, text: String(it.text ?? ''), textEn: String(it.textEn ?? ''), unit: String(it.unit ?? ''), unitName: unitNames.get(it.unit) ?? null,
      phase: String(it.phase ?? ''), level: String(it.level ?? ''), dueAt, status,
      doneAt: fin?.at ?? null,
      minutesLate: fin && status === 'done' ? minutesBetween(dueAt, fin.at) : null,
      by: fin?.by ?? null,
    };
  });
  const units = new Map<string, ReviewUnitRow>();
  for (const it of items) {
    const row = units.get(it.unit) ?? { unit: it.unit, unitName: it.unitName, items: 0, onTime: 0, late: 0, skipped: 0, open: 0, onTimePercent: 0 };
    row.items++;
    if (it.status === 'skipped') row.skipped++;
    else if (it.status === 'done') (it.minutesLate !== null && it.minutesLate > 0 ? row.late++ : row.onTime++);
    else row.open++;
    units.set(it.unit, row);
  }
  const byUnit = [...units.values()].map((r) => ({ ...r, onTimePercent: pct(r.onTime, r.items) }));

  // --- dispatches, from their events
  const dispatches = new Map<string, ReviewDispatch>();
  const STEP: Record<string, keyof ReviewDispatch> = {
    acknowledged: 'acknowledgedAt', en_route: 'enRouteAt', on_scene: 'onSceneAt', released: 'releasedAt', returned: 'returnedAt', cancelled: 'cancelledAt',
  };
  for (const e of events) {
    if (e.type === RESOURCE_EVENT_TYPES.dispatchCreated) {
      const id = String(e.data.dispatchId);
      dispatches.set(id, {
        dispatchId: id, teamId: String(e.data.teamId), teamName: bilingual(e.data.teamName), specialties: [], status: 'dispatched', dispatchedAt: e.at,
        acknowledgedAt: null, enRouteAt: null, onSceneAt: null, releasedAt: null, returnedAt: null, cancelledAt: null,
        durations: { toAcknowledge: null, toEnRoute: null, toOnScene: null, onScene: null, toReturn: null },
      });
    } else if (e.type === RESOURCE_EVENT_TYPES.dispatchStatusChanged) {
      const d = dispatches.get(String(e.data.dispatchId));
      const to = String(e.data.to);
      if (!d) continue;
      d.status = to;
      const key = STEP[to];
      if (key) (d as unknown as Record<string, unknown>)[key] = e.at;
    }
  }
  const teamIds = [...new Set([...dispatches.values()].map((d) => d.teamId))];
  const { rows: teamRows } = teamIds.length
    ? await db.query<{ id: string; specialties: string[] }>('SELECT id, specialties FROM teams WHERE id = ANY($1::text[])', [teamIds])
    : { rows: [] as { id: string; specialties: string[] }[] };
  const specialtiesOf = new Map(teamRows.map((r) => [r.id, r.specialties]));
  for (const d of dispatches.values()) {
    d.specialties = specialtiesOf.get(d.teamId) ?? [];
    d.durations = {
      toAcknowledge: minutesBetween(d.dispatchedAt, d.acknowledgedAt),
      toEnRoute: minutesBetween(d.acknowledgedAt ?? d.dispatchedAt, d.enRouteAt),
      toOnScene: minutesBetween(d.dispatchedAt, d.onSceneAt),
      onScene: minutesBetween(d.onSceneAt, d.releasedAt),
      toReturn: minutesBetween(d.releasedAt, d.returnedAt),
    };
  }
  const levelContent = incident.plan.levels[incident.level];
  const counted = [...dispatches.values()].filter((d) => !(d.cancelledAt && !d.acknowledgedAt));
  const required: ReviewTeamRequirement[] = (levelContent?.teams ?? []).map((req) => {
    const matching = counted.filter((d) => d.specialties.includes(req.specialty));
    const firstOnScene = matching.map((d) => d.onSceneAt).filter((x): x is string => !!x).sort()[0] ?? null;
    return {
      specialty: req.specialty, specialtyName: (SPECIALTIES as Record<string, Bilingual>)[req.specialty] ?? null, needed: req.count,
      sent: new Set(matching.map((d) => d.teamId)).size, firstOnSceneAt: firstOnScene, minutesToFirstOnScene: minutesBetween(activatedAt, firstOnScene),
    };
  });

  // --- materials, from the allocation events
  const allocations = new Map<string, { item: string; unit: string; quantity: number }>();
  const materials = new Map<string, ReviewMaterial>();
  const material = (item: string, unit: string): ReviewMaterial => {
    let m = materials.get(item);
    if (!m) {
      m = { item, itemName: (MATERIAL_ITEMS as Record<string, { name: Bilingual }>)[item]?.name ?? null, unit, required: null, allocated: 0, issued: 0, delivered: 0, firstDeliveredAt: null, fullyDeliveredAt: null, minutesToFullyDelivered: null };
      materials.set(item, m);
    }
    return m;
  };
  for (const req of levelContent?.materials ?? []) material(req.item, req.unit).required = req.quantity;
  const q = (n: unknown) => Math.round(Number(n) * 1000) / 1000;
  for (const e of events) {
    const id = str(e.data.allocationId);
    if (!id) continue;
    if (e.type === RESOURCE_EVENT_TYPES.allocationCreated) {
      allocations.set(id, { item: String(e.data.item), unit: String(e.data.unit), quantity: q(e.data.quantity) });
      const m = material(String(e.data.item), String(e.data.unit));
      m.allocated = q(m.allocated + q(e.data.quantity));
    } else if (e.type === RESOURCE_EVENT_TYPES.allocationCancelled) {
      const m = material(String(e.data.item), String(e.data.unit));
      m.allocated = q(m.allocated - q(e.data.quantity));
    } else if (e.type === RESOURCE_EVENT_TYPES.allocationIssued) {
      const m = material(String(e.data.item), String(e.data.unit));
      m.issued = q(m.issued + q(e.data.quantity));
    } else if (e.type === RESOURCE_EVENT_TYPES.allocationDelivered) {
      const m = material(String(e.data.item), String(e.data.unit));
      m.delivered = q(m.delivered + q(e.data.quantity));
      m.firstDeliveredAt ??= e.at;
      if (m.required !== null && !m.fullyDeliveredAt && m.delivered >= m.required) {
        m.fullyDeliveredAt = e.at;
        m.minutesToFullyDelivered = minutesBetween(activatedAt, e.at);
      }
    }
  }

  // --- warnings: drafted/approved/progress events, acknowledgements, the coverage curve from the outbox rows
  const warnings = new Map<string, ReviewWarning>();
  const warning = (id: string): ReviewWarning => {
    let w = warnings.get(id);
    if (!w) {
      w = { id, msgType: 'Alert', colour: null, headline: null, draftedAt: null, approvedAt: null, firstDeliveryAt: null, p95DeliveredAt: null, coveragePercent: null, channels: [], curve: [], acks: [] };
      warnings.set(id, w);
    }
    return w;
  };
  for (const e of events) {
    const id = str(e.data.warningId);
    if (!id) continue;
    if (e.type === WARNING_EVENT_TYPES.drafted) {
      const w = warning(id);
      w.draftedAt = e.at;
      w.msgType = str(e.data.msgType) ?? w.msgType;
      w.colour = (str(e.data.colour) as WarningColour | null) ?? w.colour;
      w.headline = bilingual(e.data.headline);
    } else if (e.type === WARNING_EVENT_TYPES.approved) {
      const w = warning(id);
      w.approvedAt = e.at;
      w.colour = (str(e.data.colour) as WarningColour | null) ?? w.colour;
    } else if (e.type === WARNING_EVENT_TYPES.deliveryProgress) {
      const w = warning(id);
      const approvedAt = str(e.data.approvedAt) ?? w.approvedAt;
      const first = typeof e.data.firstDeliveryMs === 'number' && approvedAt ? new Date(ms(approvedAt) + e.data.firstDeliveryMs).toISOString() : null;
      const p95 = typeof e.data.p95DeliveredMs === 'number' && approvedAt ? new Date(ms(approvedAt) + e.data.p95DeliveredMs).toISOString() : null;
      w.firstDeliveryAt = first;
      w.p95DeliveredAt = p95;
      w.coveragePercent = typeof e.data.coveragePercent === 'number' ? e.data.coveragePercent : null;
      w.channels = ((e.data.channels as Record<string, unknown>[] | undefined) ?? []).map((c) => ({
        channel: c.channel as WarningChannel, total: Number(c.total), delivered: Number(c.delivered), failed: Number(c.failed), coveragePercent: Number(c.coveragePercent),
      }));
    } else if (e.type === WARNING_ACK_EVENT) {
      const w = warning(id);
      const at = str(e.data.at) ?? e.at;
      const ack: ReviewAck = { recipientId: String(e.data.recipientId ?? ''), name: str(e.data.name), via: str(e.data.via), at, secondsToAck: w.approvedAt ? Math.round((ms(at) - ms(w.approvedAt)) / 100) / 10 : null };
      w.acks.push(ack);
    }
  }
  const approvedIds = [...warnings.values()].filter((w) => w.approvedAt).map((w) => w.id);
  if (approvedIds.length) {
    const { rows } = await db.query<{ warning_id: string; total: number; delivered_at: Date | null }>(
      `SELECT warning_id, count(*) OVER (PARTITION BY warning_id)::int AS total, delivered_at
       FROM warning_deliveries WHERE warning_id = ANY($1::uuid[]) ORDER BY warning_id, delivered_at NULLS LAST`,
      [approvedIds],
    );
    for (const w of warnings.values()) {
      if (!w.approvedAt) continue;
      const mine = rows.filter((r) => r.warning_id === w.id);
      const times = mine.map((r) => r.delivered_at).filter((d): d is Date => !!d).map((d) => (d.getTime() - ms(w.approvedAt!)) / 1000);
      const total = mine[0]?.total ?? 0;
      // At most ~60 points: enough for a curve, small for a page.
      const step = Math.max(1, Math.ceil(times.length / 60));
      w.curve = [{ seconds: 0, percent: 0 }];
      times.forEach((s, i) => {
        if ((i + 1) % step === 0 || i === times.length - 1) w.curve.push({ seconds: Math.round(s * 10) / 10, percent: pct(i + 1, total) });
      });
    }
  }
  const firstApproved = [...warnings.values()].map((w) => w.approvedAt).filter((x): x is string => !!x).sort()[0] ?? null;

  // --- situation reports
  const reports: ReviewReport[] = events
    .filter((e) => e.type === FIELD_EVENT_TYPES.report)
    .map((e) => ({ reportId: String(e.data.reportId), at: e.at, teamId: str(e.data.teamId), teamName: bilingual(e.data.teamName), by: e.actor ? (e.actor.displayName ?? e.actor.name) : null, text: String(e.data.text ?? '') }));

  // --- the chain the review stands on
  const chain = verifyEvents(incident.id, events, head);

  return {
    incidentId: incident.id,
    computedAt: now,
    final: incident.status === 'closed',
    summary: {
      title: incident.title,
      planId: incident.planId,
      planVersion: incident.planVersion,
      planTitle: incident.planTitle,
      mode: incident.mode,
      status: incident.status,
      level: incident.level,
      levels,
      activatedAt,
      closedAt,
      minutes: minutesBetween(activatedAt, end) ?? 0,
      closeSummary,
      participants: [...participants.values()],
      events: events.length,
    },
    checklist: { items, byUnit },
    dispatches: [...dispatches.values()],
    teams: { required },
    materials: [...materials.values()],
    warnings: [...warnings.values()],
    minutesToFirstWarning: minutesBetween(activatedAt, firstApproved),
    reports: { count: reports.length, items: reports },
    drill: opts.drillSource ? await opts.drillSource(incident.id) : null,
    improvements: opts.improvements ? await opts.improvements(incident.id) : [],
    chain: { ok: chain.ok, checked: chain.checked, lastSeq: chain.lastSeq, headHash: head.lastHash, brokenAt: chain.brokenAt ?? null, reason: chain.reason ?? null },
  };
}
