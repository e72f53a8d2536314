import type { Role } from '../../shared/roles.js';
import type { IncidentMode } from '../../shared/labels.js';

export interface Actor {
  userId: string;
  username: string;
  role: Role;
  teamId: string | null;
}

/**
 * Who may do what. One table, so the API, the live room and the docs agree.
 * Controllers (演练导调) run drills: they see and steer exercise incidents only.
 */
export const policy = {
  manageUsers: (a: Actor) => a.role === 'commander',
  activate: (a: Actor, mode: IncidentMode) =>
    a.role === 'commander' || a.role === 'staff' || (a.role === 'controller' && mode === 'exercise'),
  seeIncident: (a: Actor, incident: { mode: IncidentMode }) => a.role !== 'controller' || incident.mode === 'exercise',
  /** 升级/降级 and 响应终止 are the commander's decisions (the controller's in a drill). */
  steerIncident: (a: Actor, incident: { mode: IncidentMode }) =>
    a.role === 'commander' || (a.role === 'controller' && incident.mode === 'exercise'),
  editChecklist: (a: Actor, incident: { mode: IncidentMode }) => a.role !== 'observer' && policy.seeIncident(a, incident),
  viewOrganisation: (_a: Actor) => true,
} as const;
