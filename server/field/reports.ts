import { randomUUID } from 'node:crypto';
import { withTransaction, type Database } from '../db/database.js';
import type { Actor } from '../auth/policy.js';
import { authorize } from '../auth/policy.js';
import { listEvents, type IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentService } from '../incidents/incidents.js';
import { FIELD_EVENT_TYPES } from '../../shared/events.js';
import type { IncidentEvent } from '../../shared/events.js';

export interface ReportInput {
  text: string;
  location?: { lat: number; lon: number; accuracyM?: number };
}

/** A situation report (现场情况) as the API returns it: an entry of the event log. */
export interface FieldReportView {
  id: string;
  incidentId: string;
  seq: number;
  at: string;
  author: { id: string; name: string; displayName?: string } | null;
  teamId: string | null;
  text: string;
  location: { lat: number; lon: number; accuracyM?: number } | null;
}

function toView(event: IncidentEvent): FieldReportView {
  const d = event.data as { reportId: string; teamId: string | null; text: string; location: FieldReportView['location'] };
  return { id: d.reportId, incidentId: event.incidentId, seq: event.seq, at: event.at, author: event.actor, teamId: d.teamId, text: d.text, location: d.location };
}

/** Situation reports live only in the event log (one timeline): no table of their own. */
export class FieldReportService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
  ) {}

  async create(actor: Actor, incidentId: string, input: ReportInput): Promise<FieldReportView> {
    return withTransaction(this.db.pool, async (tx) => {
      const incident = await this.incidents.get(actor, incidentId, tx);
      authorize(actor, 'report.create', { incident });
      // The team's name goes into the log entry, so the timeline reads 排涝一队, not T-D07.
      const { rows: teams } = actor.teamId ? await tx.query<{ name_zh: string; name_en: string }>('SELECT name_zh, name_en FROM teams WHERE id = $1', [actor.teamId]) : { rows: [] };
      const event = await this.bus.record(tx, {
        incidentId,
        type: FIELD_EVENT_TYPES.report,
        actor,
        data: { reportId: randomUUID(), teamId: actor.teamId, teamName: teams[0] ? { zh: teams[0].name_zh, en: teams[0].name_en } : null, role: actor.role, text: input.text, location: input.location ?? null },
      });
      return toView(event);
    });
  }

  async list(actor: Actor, incidentId: string, afterSeq = 0): Promise<FieldReportView[]> {
    await this.incidents.get(actor, incidentId);
    const events = await listEvents(this.db.pool, incidentId, { afterSeq, limit: 1000, types: [FIELD_EVENT_TYPES.report] });
    return events.map(toView);
  }
}
