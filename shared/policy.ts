import type { IncidentMode } from './labels.js';
import { FIELD_DISPATCH_STATUSES, type DispatchStatus } from './resources.js';
import type { Role } from './roles.js';

/**
 * Who may do what: the one policy of the server (routes, Socket.IO, Yjs writes) and the client
 * (which controls to show). Pure and synchronous, so both sides and the docs table agree.
 *
 * `decide` answers why, because the API answers differently: an incident the actor may not see is
 * `hidden` (404, no hint that it exists), a role that may not act is `forbidden` (403), and a closed
 * incident refuses changes as `closed` (409 incident_closed).
 */

export interface PolicyActor {
  role: Role;
  teamId: string | null;
}

export interface IncidentSubject {
  /** Named in error messages only; decisions never depend on it. */
  id?: string;
  mode: IncidentMode;
  status: 'active' | 'closed';
}

export interface OnIncident {
  incident: IncidentSubject;
}

export interface DispatchSubject extends OnIncident {
  teamId: string;
}

export interface DispatchChangeSubject extends DispatchSubject {
  to: DispatchStatus;
}

export interface WarningApprovalSubject extends OnIncident {
  msgType: 'Alert' | 'Update' | 'Cancel';
}

/** Every action, with the subject it is decided on (`void`: nothing but the actor). */
export interface ActionSubjects {
  'user.manage': void;
  'account.self': void;
  'plan.read': void;
  'organisation.read': void;
  'organisation.import': void;
  'stock-watch.run': void;
  'incident.activate': OnIncident;
  'incident.read': OnIncident;
  'incident.steer': OnIncident;
  'checklist.edit': OnIncident;
  'report.create': OnIncident;
  'dispatch.create': OnIncident;
  'dispatch.read': DispatchSubject;
  'dispatch.change': DispatchChangeSubject;
  'dispatch.own': void;
  'allocation.create': OnIncident;
  'allocation.advance': OnIncident;
  'allocation.settle': OnIncident;
  'warning.draft': OnIncident;
  'warning.edit': OnIncident;
  'warning.approve': WarningApprovalSubject;
  'warning.deliveries': OnIncident;
  'recipients.manage': void;
  'broadcast-endpoint.read': void;
  'broadcast-endpoint.register': void;
  'push.subscribe': void;
  'live.status': void;
  'review.read': OnIncident;
  'improvement.manage': OnIncident;
  'improvement.list': void;
  'scenario.read': void;
  'scenario.manage': void;
  'drill.read': void;
  'drill.manage': void;
  'drill.observe': void;
}

export type Action = keyof ActionSubjects;
export type SubjectOf<A extends Action> = ActionSubjects[A];
/** `can(actor, 'user.manage')` but `can(actor, 'incident.read', { incident })`. */
export type SubjectArgs<A extends Action> = ActionSubjects[A] extends void ? [] : [subject: ActionSubjects[A]];

type ClosedRule<A extends Action> = 'allowed' | 'refused' | { allowed: (subject: SubjectOf<A>) => boolean; note: string };

interface ActionInfo<A extends Action> {
  /** Completes "may …" in messages and the docs table. */
  does: string;
  /** What the action covers in the API. */
  covers: string;
  /** An incident the actor may not see answers as if it did not exist (404). */
  hidesInvisible: boolean;
  /** Only for actions on an incident. */
  onClosed?: ClosedRule<A>;
}

const DEMOBILISING: readonly DispatchStatus[] = ['released', 'returned', 'cancelled'];

export const ACTIONS: { [A in Action]: ActionInfo<A> } = {
  'user.manage': { does: 'manage user accounts', covers: 'list and create users; change role, team, name, disable; reset passwords', hidesInvisible: false },
  'account.self': { does: 'use their own account', covers: 'own profile, own password, logout', hidesInvisible: false },
  'plan.read': { does: 'read plans', covers: 'plans and their checklists', hidesInvisible: false },
  'organisation.read': {
    does: 'read the organisation',
    covers: 'organisation, teams, warehouses, stock, shelters, reserve partners, stock alerts, CSV export, map',
    hidesInvisible: false,
  },
  'organisation.import': { does: 'import teams or stock', covers: 'CSV import of teams and stock', hidesInvisible: false },
  'stock-watch.run': { does: 'run the stock watch', covers: 'run the stock watch now', hidesInvisible: false },
  'incident.activate': { does: 'activate this kind of incident', covers: 'activate an incident (actual or exercise)', hidesInvisible: false },
  'incident.read': {
    does: 'see this incident',
    covers: 'the incident, its events and chain check, recommendations, dispatches, allocations, reports, warnings, CAP; live feed join; checklist read',
    hidesInvisible: true,
    onClosed: 'allowed',
  },
  'incident.steer': { does: 'change the level of or close this incident', covers: 'level change (升级/降级), close (响应终止)', hidesInvisible: true, onClosed: 'refused' },
  'checklist.edit': { does: 'edit the checklist', covers: 'Yjs checklist writes (status, assignee, note)', hidesInvisible: true, onClosed: 'refused' },
  'report.create': { does: 'file situation reports', covers: 'situation reports (现场情况)', hidesInvisible: true, onClosed: 'refused' },
  'dispatch.create': { does: 'dispatch teams on this incident', covers: 'dispatch a team (调派)', hidesInvisible: true, onClosed: 'refused' },
  'dispatch.read': {
    does: 'see this dispatch order',
    covers: 'one dispatch order; a busy team’s current order',
    hidesInvisible: true,
    onClosed: 'allowed',
  },
  'dispatch.change': {
    does: 'set this order to that status',
    covers: 'move a dispatch order along its statuses',
    hidesInvisible: true,
    onClosed: { allowed: (s) => DEMOBILISING.includes(s.to), note: 'only released, returned, cancelled' },
  },
  'dispatch.own': { does: 'have dispatch orders of their own', covers: 'my team’s dispatch orders', hidesInvisible: false },
  'allocation.create': { does: 'allocate materials on this incident', covers: 'allocate stock (物资调拨)', hidesInvisible: true, onClosed: 'refused' },
  'allocation.advance': { does: 'change allocations on this incident', covers: 'issue (出库), deliver', hidesInvisible: true, onClosed: 'refused' },
  'allocation.settle': { does: 'change allocations on this incident', covers: 'return (入库), cancel', hidesInvisible: true, onClosed: 'allowed' },
  'warning.draft': { does: 'draft warnings on this incident', covers: 'draft a warning (拟稿)', hidesInvisible: true, onClosed: 'refused' },
  'warning.edit': { does: 'edit warnings on this incident', covers: 'edit a draft; draft an Update or Cancel', hidesInvisible: true, onClosed: 'allowed' },
  'warning.approve': {
    does: 'approve warnings on this incident',
    covers: 'approve and send (签发)',
    hidesInvisible: true,
    onClosed: { allowed: (s) => s.msgType !== 'Alert', note: 'only Update and Cancel' },
  },
  'warning.deliveries': {
    does: 'read delivery addresses and receipts',
    covers: 'a warning’s deliveries (addresses, receipts) and sink contents',
    hidesInvisible: true,
    onClosed: 'allowed',
  },
  'recipients.manage': { does: 'manage recipient lists', covers: 'import and list recipients', hidesInvisible: false },
  'broadcast-endpoint.read': { does: 'list broadcast endpoints', covers: 'list broadcast endpoints', hidesInvisible: false },
  'broadcast-endpoint.register': { does: 'register broadcast endpoints', covers: 'register a broadcast endpoint', hidesInvisible: false },
  'push.subscribe': { does: 'subscribe to Web Push', covers: 'VAPID key, own push subscription', hidesInvisible: false },
  'live.status': { does: 'read the live feed status', covers: 'this node’s live-feed status', hidesInvisible: false },
  'review.read': {
    does: 'read the after-action review of this incident',
    covers: 'after-action review (总结评估) as JSON, HTML and DOCX; checklist replay; the incident’s improvement items',
    hidesInvisible: true,
    onClosed: 'allowed',
  },
  'improvement.manage': {
    does: 'manage improvement items of this incident',
    covers: 'create improvement items (整改事项) from a review; move them open → in_progress → done',
    hidesInvisible: true,
    onClosed: 'allowed',
  },
  'improvement.list': { does: 'list improvement items', covers: 'improvement items across incidents and per plan', hidesInvisible: false },
  'scenario.read': { does: 'read drill scenarios', covers: 'drill scenarios (演练脚本) and their versions', hidesInvisible: false },
  'scenario.manage': { does: 'create and edit drill scenarios', covers: 'create a scenario or a new version of one', hidesInvisible: false },
  'drill.read': { does: 'read drills', covers: 'drills, their injects, expected-action scoreboard and observations (sealed drills: controllers only)', hidesInvisible: false },
  'drill.manage': { does: 'run drills', covers: 'create, seal, start, pause, resume, end drills; release injects', hidesInvisible: false },
  'drill.observe': { does: 'record drill observations', covers: 'evaluator observations (评估记录)', hidesInvisible: false },
};

/** `true`: always; `'exercise'`: on exercise incidents only; or a condition, described for the docs. */
export type Grant<A extends Action> = true | 'exercise' | { when: (actor: PolicyActor, subject: SubjectOf<A>) => boolean; note: string };

export interface RoleProfile {
  /** `exercise`: every actual incident is invisible (404) to this role. */
  sees: 'all' | 'exercise';
  grants: { [A in Action]?: Grant<A> };
}

/** What everyone who may see an incident reads. */
const READS = {
  'account.self': true,
  'plan.read': true,
  'organisation.read': true,
  'incident.read': true,
  'dispatch.read': true,
  'broadcast-endpoint.read': true,
  'push.subscribe': true,
  'live.status': true,
} as const satisfies RoleProfile['grants'];

/** What the command staff and, in a drill, the controller do on an incident. */
const RUN_INCIDENT = {
  'incident.activate': true,
  'dispatch.create': true,
  'dispatch.change': true,
  'allocation.create': true,
  'allocation.advance': true,
  'allocation.settle': true,
  'warning.draft': true,
  'warning.edit': true,
  'checklist.edit': true,
  'report.create': true,
} as const satisfies RoleProfile['grants'];

/** The after-action review and its improvement items (整改事项). */
const REVIEW = {
  'review.read': true,
  'improvement.manage': true,
  'improvement.list': true,
} as const satisfies RoleProfile['grants'];

/** The same grants, each limited to exercise incidents. */
function inDrillsOnly<G extends RoleProfile['grants']>(grants: G): { [A in keyof G]: 'exercise' } {
  return Object.fromEntries(Object.keys(grants).map((a) => [a, 'exercise'])) as { [A in keyof G]: 'exercise' };
}

const ownTeam = { when: (a: PolicyActor, s: DispatchSubject) => a.teamId !== null && a.teamId === s.teamId, note: 'own team' };

/**
 * One profile per role. A new role (say `evaluator`: exercise incidents only, reads everything of
 * a drill, changes nothing) is one entry: `{ sees: 'exercise', grants: { ...READS, 'warning.deliveries': true } }`.
 */
export const ROLE_PROFILES: Record<Role, RoleProfile> = {
  commander: {
    sees: 'all',
    grants: {
      ...READS,
      ...RUN_INCIDENT,
      'user.manage': true,
      'organisation.import': true,
      'stock-watch.run': true,
      'incident.steer': true,
      'warning.approve': true,
      'warning.deliveries': true,
      'recipients.manage': true,
      'broadcast-endpoint.register': true,
      ...REVIEW,
      'scenario.read': true,
      'scenario.manage': true,
    },
  },
  staff: {
    sees: 'all',
    grants: { ...READS, ...RUN_INCIDENT, 'organisation.import': true, 'warning.deliveries': true, 'recipients.manage': true, ...REVIEW },
  },
  field: {
    sees: 'all',
    grants: {
      ...READS,
      'dispatch.read': ownTeam,
      'dispatch.change': {
        when: (a, s) => ownTeam.when(a, s) && FIELD_DISPATCH_STATUSES.includes(s.to),
        note: `own team: ${FIELD_DISPATCH_STATUSES.join(', ')}`,
      },
      'dispatch.own': { when: (a) => a.teamId !== null, note: 'bound to a team' },
      'checklist.edit': true,
      'report.create': true,
    },
  },
  controller: {
    sees: 'exercise',
    grants: {
      ...READS,
      ...inDrillsOnly(RUN_INCIDENT),
      'incident.steer': 'exercise',
      'warning.approve': 'exercise',
      'review.read': 'exercise',
      'improvement.manage': 'exercise',
      'scenario.read': true,
      'scenario.manage': true,
      'drill.read': true,
      'drill.manage': true,
      'drill.observe': true,
    },
  },
  observer: { sees: 'all', grants: { ...READS } },
  /** Exercises only; reads everything of a drill (not a sealed one), changes nothing of the response. */
  evaluator: {
    sees: 'exercise',
    grants: { ...READS, 'warning.deliveries': 'exercise', 'review.read': 'exercise', 'scenario.read': true, 'drill.read': true, 'drill.observe': true },
  },
};

export type Decision = 'allow' | 'hidden' | 'forbidden' | 'closed';

function incidentOf(subject: unknown): IncidentSubject | undefined {
  return subject && typeof subject === 'object' && 'incident' in subject ? (subject as OnIncident).incident : undefined;
}

/** Whether the role sees the incident at all (controllers: exercises only). */
export function sees(actor: PolicyActor, incident: Pick<IncidentSubject, 'mode'>): boolean {
  const profile = ROLE_PROFILES[actor.role];
  return !!profile && (profile.sees === 'all' || incident.mode === 'exercise');
}

function granted<A extends Action>(grant: Grant<A> | undefined, actor: PolicyActor, subject: SubjectOf<A>): boolean {
  if (grant === undefined) return false;
  if (grant === true) return true;
  if (grant === 'exercise') return incidentOf(subject)?.mode === 'exercise';
  return grant.when(actor, subject);
}

function allowedOnClosed<A extends Action>(rule: ClosedRule<A> | undefined, subject: SubjectOf<A>): boolean {
  if (rule === undefined || rule === 'allowed') return true;
  if (rule === 'refused') return false;
  return rule.allowed(subject);
}

/** Why the actor may or may not do the action: visibility first, then the role, then a closed incident. */
export function decide<A extends Action>(actor: PolicyActor, action: A, ...args: SubjectArgs<A>): Decision {
  const subject = args[0] as SubjectOf<A>;
  const info = ACTIONS[action] as ActionInfo<A>;
  const incident = incidentOf(subject);
  // A token may outlive a role that was removed: such an actor may do nothing.
  const profile = ROLE_PROFILES[actor.role] as RoleProfile | undefined;
  if (!profile) return incident && info.hidesInvisible ? 'hidden' : 'forbidden';
  if (incident && info.hidesInvisible && !sees(actor, incident)) return 'hidden';
  if (!granted(profile.grants[action] as Grant<A> | undefined, actor, subject)) return 'forbidden';
  if (incident?.status === 'closed' && !allowedOnClosed(info.onClosed, subject)) return 'closed';
  return 'allow';
}

export function can<A extends Action>(actor: PolicyActor, action: A, ...args: SubjectArgs<A>): boolean {
  return decide(actor, action, ...args) === 'allow';
}

export const ACTION_NAMES = Object.keys(ACTIONS) as Action[];
