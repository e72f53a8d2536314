import type { RequestHandler } from 'express';
import type { Role } from '../../shared/roles.js';
import { ACTIONS, decide, type Action, type SubjectArgs, type SubjectOf } from '../../shared/policy.js';
import { AppError } from '../http/errors.js';

export interface Actor {
  userId: string;
  username: string;
  role: Role;
  teamId: string | null;
  /** The name people know them by (王芳), from the account; absent only for actors built by hand. */
  displayName?: string;
}

export { can, sees } from '../../shared/policy.js';

/** Actions decided on the actor alone. */
type ActorOnlyAction = { [A in Action]: SubjectOf<A> extends void ? A : never }[Action];

/**
 * Throws unless the policy allows the action: `notFound()` when the incident is one the actor may not
 * see (the caller names only what the client asked for), 403 `forbidden` for the role, 409
 * `incident_closed` on a closed incident.
 */
export function authorize<A extends Action>(actor: Actor, action: A, subject: SubjectOf<A>, notFound?: () => AppError): void {
  const decision = decide(actor, action, ...([subject] as SubjectArgs<A>));
  if (decision === 'allow') return;
  if (decision === 'hidden') throw notFound?.() ?? new AppError('not_found', 'not found', {});
  if (decision === 'closed') {
    const id = (subject as { incident?: { id?: string } }).incident?.id;
    throw new AppError('incident_closed', id ? `incident ${id} is closed` : 'the incident is closed', id ? { incidentId: id } : {});
  }
  throw new AppError('forbidden', `role ${actor.role} may not ${ACTIONS[action].does}`, { role: actor.role, action });
}

/** Route middleware for actions decided on the actor alone. */
export function requirePermission(action: ActorOnlyAction): RequestHandler<any> {
  return (req, _res, next) => {
    if (!req.actor) throw new AppError('unauthorized', 'not authenticated');
    authorize(req.actor, action, undefined as SubjectOf<typeof action>);
    next();
  };
}
