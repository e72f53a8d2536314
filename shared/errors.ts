/**
 * Every error code the API returns, with its HTTP status. The body is always
 * `{"error": {"code", "message", "details"}}`. docs/API.md documents each code
 * (a test keeps the two in step).
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, description: 'The body, query or path failed validation; details.issues lists each field and problem.' },
  malformed_json: { status: 400, description: 'The request body is not valid JSON.' },
  unauthorized: { status: 401, description: 'No bearer token, or it is invalid or expired.' },
  invalid_credentials: { status: 401, description: 'Login failed: unknown user or wrong password.' },
  forbidden: { status: 403, description: 'Your role may not do this, or not on this incident.' },
  not_found: { status: 404, description: 'No such resource (or route).' },
  conflict: { status: 409, description: 'The request conflicts with the current state (e.g. username taken).' },
  incident_closed: { status: 409, description: 'The incident is closed (响应终止); it is read-only.' },
  level_unchanged: { status: 409, description: 'The incident is already at that response level.' },
  level_not_in_plan: { status: 422, description: 'The plan defines no such response level.' },
  unknown_plan: { status: 422, description: 'No plan with that id is loaded.' },
  unknown_team: { status: 422, description: 'The teamId given for a field user does not exist.' },
  payload_too_large: { status: 413, description: 'The request body is over the size limit.' },
  unsupported_media_type: { status: 415, description: 'Send bodies as application/json.' },
  internal: { status: 500, description: 'An unexpected server error; it is logged, nothing was half-written.' },
  unavailable: { status: 503, description: 'The server or its database is not ready (see /healthz).' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; details: Record<string, unknown> };
}
