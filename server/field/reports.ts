import { randomUUID } from 'node:crypto';
import { withTransaction, type Database } from '../db/database.js';
import type { Actor } from '../auth/policy.js';
import { authorize } from '../auth/policy.js';
import { AppError } from '../http/errors.js';
import { listEvents, type IncidentEventBus } from '../incidents/event-log.js';
import type { IncidentService } from '../incidents/incidents.js';
import { recordTeamFix } from '../resources/team-position.js';
import { FIELD_EVENT_TYPES } from '../../shared/events.js';
import type { IncidentEvent } from '../../shared/events.js';
import { cleanPhoto, type PhotoType } from './photos.js';

export interface ReportInput {
  text: string;
  /** The phone's fix; `at` is when it was taken (the team's last known position follows it). */
  location?: { lat: number; lon: number; accuracyM?: number; at?: string };
  /** The photo's original bytes (the route decodes base64). */
  photo?: Buffer;
}

export interface ReportPhotoView {
  id: string;
  contentType: PhotoType;
  width: number;
  height: number;
  byteSize: number;
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
  /** `source` says where it came from: the phone's fix, or the photo's EXIF GPS when the report had none. */
  location: { lat: number; lon: number; accuracyM?: number; at?: string; source?: 'device' | 'exif' } | null;
  photo: ReportPhotoView | null;
}

function toView(event: IncidentEvent): FieldReportView {
  const d = event.data as { reportId: string; teamId: string | null; text: string; location: FieldReportView['location']; photo?: ReportPhotoView | null };
  return { id: d.reportId, incidentId: event.incidentId, seq: event.seq, at: event.at, author: event.actor, teamId: d.teamId, text: d.text, location: d.location, photo: d.photo ?? null };
}

/** Situation reports live in the event log (one timeline); only their photos' bytes have a table. */
export class FieldReportService {
  constructor(
    private readonly db: Database,
    private readonly incidents: IncidentService,
    private readonly bus: IncidentEventBus,
  ) {}

  async create(actor: Actor, incidentId: string, input: ReportInput): Promise<FieldReportView> {
    // Visibility and permission before any work on the photo.
    authorize(actor, 'report.create', { incident: await this.incidents.get(actor, incidentId) });
    // Decoding and re-encoding happen before the transaction: no lock is held while libvips works.
    const photo = input.photo ? await cleanPhoto(input.photo) : null;
    return withTransaction(this.db.pool, async (tx) => {
      const incident = await this.incidents.get(actor, incidentId, tx);
      authorize(actor, 'report.create', { incident });
      // The team's name goes into the log entry, so the timeline reads 排涝一队, not T-D07.
      const { rows: teams } = actor.teamId ? await tx.query<{ name_zh: string; name_en: string }>('SELECT name_zh, name_en FROM teams WHERE id = $1', [actor.teamId]) : { rows: [] };
      const reportId = randomUUID();
      let photoView: ReportPhotoView | null = null;
      if (photo) {
        photoView = { id: randomUUID(), contentType: photo.contentType, width: photo.width, height: photo.height, byteSize: photo.bytes.length };
        await tx.query(
          `INSERT INTO report_photos (id, incident_id, report_id, content_type, bytes, byte_size, width, height, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [photoView.id, incidentId, reportId, photo.contentType, photo.bytes, photo.bytes.length, photo.width, photo.height, actor.userId],
        );
      }
      const location: FieldReportView['location'] = input.location ? { ...input.location, source: 'device' } : photo?.gps ? { ...photo.gps, source: 'exif' } : null;
      // The phone's own fix moves the team on the map; a photo's EXIF position may be old, so it does not.
      if (actor.teamId && input.location) {
        await recordTeamFix(tx, actor.teamId, { lat: input.location.lat, lon: input.location.lon, accuracyM: input.location.accuracyM ?? 0, at: input.location.at ?? new Date().toISOString() });
      }
      const event = await this.bus.record(tx, {
        incidentId,
        type: FIELD_EVENT_TYPES.report,
        actor,
        data: { reportId, teamId: actor.teamId, teamName: teams[0] ? { zh: teams[0].name_zh, en: teams[0].name_en } : null, role: actor.role, text: input.text, location, photo: photoView },
      });
      return toView(event);
    });
  }

  async list(actor: Actor, incidentId: string, opts: { afterSeq?: number; teamId?: string } = {}): Promise<FieldReportView[]> {
    await this.incidents.get(actor, incidentId);
    const events = await listEvents(this.db.pool, incidentId, { afterSeq: opts.afterSeq ?? 0, limit: 1000, types: [FIELD_EVENT_TYPES.report] });
    return events.map(toView).filter((r) => opts.teamId === undefined || r.teamId === opts.teamId);
  }

  /** A report photo's cleaned bytes, to anyone who may see the incident (else 404, like the incident). */
  async photo(actor: Actor, incidentId: string, photoId: string): Promise<{ contentType: PhotoType; bytes: Buffer }> {
    await this.incidents.get(actor, incidentId);
    const { rows } = await this.db.pool.query<{ content_type: PhotoType; bytes: Buffer }>('SELECT content_type, bytes FROM report_photos WHERE id = $1 AND incident_id = $2', [photoId, incidentId]);
    if (!rows[0]) throw new AppError('not_found', `photo ${photoId} not found`, { photoId });
    return { contentType: rows[0].content_type, bytes: rows[0].bytes };
  }
}
