/**
 * Every error code the API returns, with its HTTP status. The body is always
 * `{"error": {"code", "message", "details"}}`. docs/API.md documents each code
 * (a test keeps the two in step).
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, description: 'The body, query or path failed validation; details.issues lists each field and problem.' },
  malformed_json: { status: 400, description: 'The request body is not valid JSON.' },
  unauthorized: { status: 401, description: 'No bearer token, or it is invalid or expired.' },
  invalid_credentials: { status: 401, description: 'Login failed: unknown user or wrong password (or, on a password change, the current password is wrong).' },
  account_disabled: { status: 403, description: 'The account is disabled; a commander can enable it again.' },
  too_many_attempts: { status: 429, description: 'Too many failed logins for this user or from this address; the Retry-After header says when to try again.' },
  session_revoked: { status: 401, description: 'Live feed: the session was ended (logout, password change, role or team change, disabled account); log in again.' },
  forbidden: { status: 403, description: 'Your role may not do this, or not on this incident.' },
  not_found: { status: 404, description: 'No such resource (or route).' },
  conflict: { status: 409, description: 'The request conflicts with the current state (e.g. username taken).' },
  incident_closed: { status: 409, description: 'The incident is closed (响应终止); it is read-only.' },
  level_unchanged: { status: 409, description: 'The incident is already at that response level.' },
  level_not_in_plan: { status: 422, description: 'The plan defines no such response level.' },
  unknown_plan: { status: 422, description: 'No plan with that id is loaded.' },
  unknown_team: { status: 422, description: 'The teamId given for a field user does not exist.' },
  // live feed (Socket.IO); statuses are nominal, these travel in acks and live:error events
  unknown_event: { status: 400, description: 'The live feed does not know that Socket.IO event.' },
  too_many_bad_messages: { status: 429, description: 'Too many refused live-feed messages on one connection; the server closes it.' },
  too_many_connections: { status: 429, description: 'This user, or this incident, already has as many live connections as allowed (LIVE_MAX_CONNECTIONS_PER_*).' },
  // resources (teams, dispatch, stock)
  insufficient_stock: { status: 409, description: 'Not enough stock on that line; details.available says how much is left.' },
  team_unavailable: { status: 409, description: 'The team is working another incident (or not ready); details.status and details.incidentId say where.' },
  illegal_transition: { status: 409, description: 'That status change is not allowed from the current status; details.allowed lists the legal next ones.' },
  payload_too_large: { status: 413, description: 'The request body is over the size limit.' },
  unsupported_media_type: { status: 415, description: 'Send bodies as application/json.' },
  unknown_template: { status: 422, description: 'The incident\'s plan level has no warning template with that id.' },
  warning_not_draft: { status: 409, description: 'Only a draft warning can be edited or approved.' },
  warning_not_sent: { status: 409, description: 'Only a sent, current warning can be updated or cancelled.' },
  two_person_rule: { status: 403, description: 'Two-person rule: the approver of a warning must not be its author.' },
  empty_audience: { status: 422, description: 'The warning reaches nobody on any of its channels.' },
  text_too_long: { status: 422, description: 'A warning text is over a channel limit (SMS segments, push payload size).' },
  invalid_signature: { status: 403, description: 'A webhook signature (X-Twilio-Signature) does not verify.' },
  invalid_photo: { status: 422, description: 'A report photo is not a JPEG, PNG or WebP image the server can decode (its bytes decide, not a declared type), or is animated.' },
  invalid_csv: { status: 422, description: 'A CSV import has a bad row; details.line names it and nothing was imported.' },
  // idempotency (Idempotency-Key header on POST)
  idempotency_key_reused: { status: 422, description: 'This Idempotency-Key was already used for a different request (method, path or body).' },
  idempotency_in_progress: { status: 409, description: 'A request with this Idempotency-Key is still running; retry later with the same key.' },
  // drills (issue 11)
  invalid_scenario: { status: 422, description: 'A drill scenario failed validation or names a plan, checklist item or team that does not exist; details.problems lists each (path, message).' },
  unknown_scenario: { status: 422, description: 'No stored drill scenario with that id (or one a no-script drill may not use: it must be restricted).' },
  drill_state: { status: 409, description: 'The drill is not in a state that allows this (e.g. start a drill that is not ready, pause one that is not running); details.status says where it is.' },
  inject_already_released: { status: 409, description: 'That inject was already released (an inject is released exactly once).' },
  rate_limited: { status: 429, description: 'Too many requests from you (or from everyone) on a public surface; wait Retry-After seconds.' },
  internal: { status: 500, description: 'An unexpected server error; it is logged, nothing was half-written.' },
  unavailable: { status: 503, description: 'The server or its database is not ready (see /healthz).' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; details: Record<string, unknown> };
}
