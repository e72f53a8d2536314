import { endSession, loadSession } from './session.js';
import { TicketRefused } from './ticket-socket.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Thrown when the request never reached the server (offline, DNS, connection reset). */
export class NetworkError extends Error {}

export async function api<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const session = loadSession();
  const h: Record<string, string> = { ...headers };
  if (session) h.authorization = `Bearer ${session.token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new NetworkError(String(err));
  }
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    // Our token was refused: the session is over (revoked or expired), so back to the login form.
    if (res.status === 401 && session && h.authorization) endSession();
    const e = json?.error ?? {};
    throw new ApiError(res.status, e.code ?? 'http_' + res.status, e.message ?? res.statusText, e.details ?? {});
  }
  return json as T;
}

export const get = <T = any>(path: string) => api<T>('GET', path);

/** An authenticated binary GET (a report photo): <img src> cannot send the bearer token, a blob URL can show it. */
export async function getBlob(path: string): Promise<Blob> {
  const session = loadSession();
  let res: Response;
  try {
    res = await fetch(path, { headers: session ? { authorization: `Bearer ${session.token}` } : {} });
  } catch (err) {
    throw new NetworkError(String(err));
  }
  if (!res.ok) throw new ApiError(res.status, 'http_' + res.status, res.statusText, {});
  return res.blob();
}
export const post = <T = any>(path: string, body: unknown = {}) => api<T>('POST', path, body);
export const patch = <T = any>(path: string, body: unknown = {}) => api<T>('PATCH', path, body);

/** A one-use ticket for a WebSocket (the long-lived token stays out of URLs). */
export async function liveTicket(): Promise<string> {
  try {
    return (await post<{ ticket: string }>('/api/live/ticket')).ticket;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw new TicketRefused('session ended');
    throw err;
  }
}

/** Logs out on the server too (ends this session there); the local session is forgotten either way. */
export async function logout(): Promise<void> {
  await post('/api/auth/logout').catch(() => undefined);
  endSession();
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  if (err instanceof NetworkError) return '网络不可用 / network unavailable';
  return String(err);
}
