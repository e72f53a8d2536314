import type { AuthSession, SessionService } from './sessions.js';

const MAX_CREDENTIAL_LENGTH = 4096;

/**
 * A WebSocket presents either a one-use ticket (`POST /api/live/ticket`; what the web client
 * sends) or, for existing integrations, the bearer token itself. Either way the session must stand.
 */
export async function authenticateCredential(sessions: SessionService, credential: { ticket?: unknown; token?: unknown }): Promise<AuthSession | null> {
  const { ticket, token } = credential;
  if (typeof ticket === 'string' && ticket.length > 0) return ticket.length <= MAX_CREDENTIAL_LENGTH ? sessions.redeemTicket(ticket) : null;
  if (typeof token === 'string' && token.length > 0) return token.length <= MAX_CREDENTIAL_LENGTH ? sessions.authenticate(token) : null;
  return null;
}

export const hasCredential = (credential: { ticket?: unknown; token?: unknown }) =>
  (typeof credential.ticket === 'string' && credential.ticket.length > 0) || (typeof credential.token === 'string' && credential.token.length > 0);
