import type { UserView } from '../../../shared/roles.js';

/** The logged-in user of this browser (token in localStorage so a reload, even offline, stays logged in). */
export interface Session {
  token: string;
  expiresAt: string;
  user: UserView;
}

const KEY = 'yingji.session';

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    if (!s || new Date(s.expiresAt).getTime() < Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}
