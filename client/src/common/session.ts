import { useEffect, useState } from 'preact/hooks';
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

const ENDED = 'yingji:session-ended';

/**
 * The server ended this session (a 401, a socket closed with 4401 or `session_revoked`: logout
 * elsewhere, password change, role or team change, disabled account, expiry). Forgets it and tells
 * every screen to show the login form.
 */
export function endSession(): void {
  if (!localStorage.getItem(KEY)) return;
  saveSession(null);
  dispatchEvent(new Event(ENDED));
}

/** The session as state: null once logged out here or ended by the server. */
export function useSession(): [Session | null, (s: Session | null) => void] {
  const [session, setSession] = useState<Session | null>(loadSession());
  useEffect(() => {
    const ended = () => setSession(null);
    addEventListener(ENDED, ended);
    return () => removeEventListener(ENDED, ended);
  }, []);
  return [session, setSession];
}
