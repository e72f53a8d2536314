/**
 * The after-action review (总结评估) of an incident: computed by the server from the incident's
 * event log and stored rows (server/review/compute.ts), rendered as JSON, HTML and DOCX, and
 * shown by the web client. Times are ISO strings; durations are minutes (one decimal) unless the
 * name says seconds.
 */
import type { DrillReviewSection } from './drill-review.js';
import type { Bilingual, IncidentMode, ResponseLevel, WarningChannel, WarningColour } from './labels.js';

export interface ReviewParticipant {
  id: string;
  name: string;
  displayName: string | null;
  /** Event-log entries this person is the actor of. */
  events: number;
}

export interface ReviewLevelSpan {
  level: ResponseLevel;
  from: string;
  /** null while the level still stands (incident open). */
  to: string | null;
  minutes: number;
}

export interface ReviewChecklistItem {
  id: string;
  text: string;
  textEn: string;
  unit: string;
  unitName: Bilingual | null;
  phase: string;
  level: string;
  dueAt: string | null;
  status: 'todo' | 'doing' | 'done' | 'skipped';
  /** When the item last entered done/skipped and stayed there (from checklist.item_status events). */
  doneAt: string | null;
  /** (doneAt − dueAt) in minutes, one decimal; negative = early; null when not finished or no due time. */
  minutesLate: number | null;
  /** Who finished it. */
  by: { id: string; name: string; role: string } | null;
}

export interface ReviewUnitRow {
  unit: string;
  unitName: Bilingual | null;
  items: number;
  /** Done at or before due. */
  onTime: number;
  /** Done after due. */
  late: number;
  skipped: number;
  /** Neither done nor skipped. */
  open: number;
  /** onTime / items × 100, one decimal (0 for no items). */
  onTimePercent: number;
}

export interface ReviewDispatch {
  dispatchId: string;
  teamId: string;
  teamName: Bilingual | null;
  specialties: string[];
  status: string;
  dispatchedAt: string;
  acknowledgedAt: string | null;
  enRouteAt: string | null;
  onSceneAt: string | null;
  releasedAt: string | null;
  returnedAt: string | null;
  cancelledAt: string | null;
  /** Minutes between the steps (null when either end is missing). */
  durations: {
    toAcknowledge: number | null;
    toEnRoute: number | null;
    toOnScene: number | null;
    onScene: number | null;
    toReturn: number | null;
  };
}

export interface ReviewTeamRequirement {
  specialty: string;
  specialtyName: Bilingual | null;
  needed: number;
  /** Distinct teams with that specialty dispatched (not cancelled before acknowledging). */
  sent: number;
  firstOnSceneAt: string | null;
  /** Activation → first of them on scene. */
  minutesToFirstOnScene: number | null;
}

export interface ReviewMaterial {
  item: string;
  itemName: Bilingual | null;
  unit: string;
  /** What the plan's level asks for; null for items allocated beyond the plan. */
  required: number | null;
  /** Allocated and not cancelled. */
  allocated: number;
  issued: number;
  delivered: number;
  firstDeliveredAt: string | null;
  /** Activation → the delivered total reached the requirement (null if it never did). */
  fullyDeliveredAt: string | null;
  minutesToFullyDelivered: number | null;
}

export interface ReviewWarningChannel {
  channel: WarningChannel;
  total: number;
  delivered: number;
  failed: number;
  coveragePercent: number;
}

export interface ReviewAck {
  recipientId: string;
  name: string | null;
  via: string | null;
  at: string;
  /** Approval → acknowledgement. */
  secondsToAck: number | null;
}

export interface ReviewWarning {
  id: string;
  msgType: string;
  colour: WarningColour | null;
  headline: Bilingual | null;
  draftedAt: string | null;
  approvedAt: string | null;
  firstDeliveryAt: string | null;
  p95DeliveredAt: string | null;
  coveragePercent: number | null;
  channels: ReviewWarningChannel[];
  /** Cumulative delivered share over time since approval (for the coverage chart). */
  curve: { seconds: number; percent: number }[];
  /** 叫应: who acknowledged, from warning.ack_received events (empty when there are none). */
  acks: ReviewAck[];
}

export interface ReviewReport {
  reportId: string;
  at: string;
  teamId: string | null;
  teamName: Bilingual | null;
  by: string | null;
  text: string;
}

export interface Review {
  incidentId: string;
  /** Computed at; a review of an open incident is live (`final: false`). */
  computedAt: string;
  final: boolean;
  summary: {
    title: string;
    planId: string;
    planVersion: string;
    planTitle: Bilingual;
    mode: IncidentMode;
    status: 'active' | 'closed';
    level: ResponseLevel;
    levels: ReviewLevelSpan[];
    activatedAt: string;
    closedAt: string | null;
    /** Activation → close (or now). */
    minutes: number;
    closeSummary: string | null;
    participants: ReviewParticipant[];
    events: number;
  };
  checklist: { items: ReviewChecklistItem[]; byUnit: ReviewUnitRow[] };
  dispatches: ReviewDispatch[];
  teams: { required: ReviewTeamRequirement[] };
  materials: ReviewMaterial[];
  warnings: ReviewWarning[];
  /** Activation → first approved warning, minutes; null without one. */
  minutesToFirstWarning: number | null;
  reports: { count: number; items: ReviewReport[] };
  drill: DrillReviewSection | null;
  improvements: ReviewImprovement[];
  chain: { ok: boolean; checked: number; lastSeq: number; headHash: string; brokenAt: number | null; reason: string | null };
}

export const IMPROVEMENT_STATUSES = ['open', 'in_progress', 'done'] as const;
export type ImprovementStatus = (typeof IMPROVEMENT_STATUSES)[number];

/** 整改事项: a finding of a review, owned by a unit, tracked to done. */
export interface ReviewImprovement {
  id: string;
  incidentId: string;
  planId: string;
  planItemId: string | null;
  problem: string;
  unit: string;
  dueDate: string;
  status: ImprovementStatus;
  evidence: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}
