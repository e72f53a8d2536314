/** One entry of an incident's append-only, hash-chained event log (the single timeline). */
export interface IncidentEvent {
  incidentId: string;
  seq: number;
  /** Dotted type, e.g. incident.activated, incident.level_changed, checklist.item_done. */
  type: string;
  /** ISO 8601 time the server recorded it. */
  at: string;
  /** `name` is the username; `displayName` the name people know (王芳), on entries since it was logged. */
  actor: { id: string; name: string; displayName?: string } | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Event types written by the foundation; later modules add theirs. */
export const EVENT_TYPES = {
  incidentActivated: 'incident.activated',
  incidentLevelChanged: 'incident.level_changed',
  incidentClosed: 'incident.closed',
} as const;

/** Event types written by the warnings module (issue 5). */
export const WARNING_EVENT_TYPES = {
  drafted: 'warning.drafted',
  edited: 'warning.edited',
  approved: 'warning.approved',
  deliveryProgress: 'warning.delivery_progress',
  /** 叫应: one responsible person acknowledged ({warningId, recipientId, name, via, at}). */
  ackReceived: 'warning.ack_received',
  /** 叫应: one escalation step taken for someone who has not answered (resend, call, escalate). */
  ackEscalated: 'warning.ack_escalated',
} as const;

/** Event types written by the resources module (teams, dispatch, materials). */
export const RESOURCE_EVENT_TYPES = {
  /** 叫应: a dispatch order still not acknowledged — team leader, then deputy alerted, then the commander on the board. */
  dispatchAckEscalated: 'dispatch.ack_escalated',
  dispatchCreated: 'dispatch.created',
  dispatchStatusChanged: 'dispatch.status_changed',
  allocationCreated: 'allocation.created',
  allocationIssued: 'allocation.issued',
  allocationDelivered: 'allocation.delivered',
  allocationReturned: 'allocation.returned',
  allocationCancelled: 'allocation.cancelled',
  stockAlert: 'stock.alert',
} as const;

/** Event types written by the field module (issue 6). */
export const FIELD_EVENT_TYPES = {
  /** A situation report (现场情况): data `reportId, teamId, role, text, location`. */
  report: 'field.report',
} as const;

/** Event types written by the live checklist (rooms module, issue 3). */
export const CHECKLIST_EVENT_TYPES = {
  /** An item entered done/skipped or was reopened: data `itemId, text, from, to, by, dueAt, minutesLate`. */
  itemStatus: 'checklist.item_status',
  /** 叫应: an item still open at its due time — `remind` (the unit's duty contact by SMS) or, past the grace period, `board` (the commander). */
  overdueEscalated: 'checklist.overdue_escalated',
} as const;
