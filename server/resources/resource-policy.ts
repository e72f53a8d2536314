import type { Actor } from '../auth/policy.js';
import type { IncidentMode } from '../../shared/labels.js';
import { FIELD_DISPATCH_STATUSES, type DispatchStatus } from '../../shared/resources.js';

/** Who may do what with teams, dispatch orders and materials. */
export const resourcePolicy = {
  /** 调派 and 物资调拨: command staff; the exercise controller in a drill. */
  dispatch: (a: Actor, incident: { mode: IncidentMode }) =>
    a.role === 'commander' || a.role === 'staff' || (a.role === 'controller' && incident.mode === 'exercise'),
  /** Field users move only their own team's orders, and only the steps a team reports itself. */
  updateDispatch: (a: Actor, incident: { mode: IncidentMode }, dispatch: { teamId: string }, to: DispatchStatus) => {
    if (a.role === 'field') return a.teamId === dispatch.teamId && FIELD_DISPATCH_STATUSES.includes(to);
    return resourcePolicy.dispatch(a, incident);
  },
  seeDispatch: (a: Actor, dispatch: { teamId: string }) => a.role !== 'field' || a.teamId === dispatch.teamId,
  /** The bureau's spreadsheets: stock counts and team rosters. */
  importOrganisation: (a: Actor) => a.role === 'commander' || a.role === 'staff',
  runStockWatch: (a: Actor) => a.role === 'commander',
} as const;
