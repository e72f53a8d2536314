/**
 * Real and drill targets are compared as the transport sees them, not as someone typed them:
 * `https://HE.example.org:443/cap/` and `https://he.example.org/cap` are one head-end, and
 * `+86 138-0000-0005` and `+8613800000005` one phone.
 */

/** Lower-case scheme and host, no default port, no fragment, no trailing slash on the path. */
export function normaliseTargetUrl(raw: string): string {
  const url = new URL(raw.trim());
  url.hash = '';
  url.pathname = url.pathname.replace(/\/+$/, '') || '/';
  return url.href;
}

export function isHttpUrl(raw: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(raw.trim()).protocol);
  } catch {
    return false;
  }
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** E.164 (+ country code and number) from the usual spellings (spaces, dashes, dots, brackets, 00 prefix); null if it is none. */
export function normalisePhone(raw: string): string | null {
  let v = raw.trim().replace(/[\s\-.()]/g, '');
  if (v.startsWith('00')) v = '+' + v.slice(2);
  return E164.test(v) ? v : null;
}

export const splitList = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

interface TargetSettings {
  BROADCAST_ENDPOINTS?: string;
  EXERCISE_BROADCAST_ENDPOINTS?: string;
  EXERCISE_SMS_NUMBERS?: string;
  BROADCAST_SECRET?: string;
  BROADCAST_ALLOW_UNSIGNED: boolean;
}

/** Start-up checks of the warning targets: one line per problem, in the config's "NAME: message" form. */
export function warningTargetProblems(cfg: TargetSettings): string[] {
  const problems: string[] = [];
  const urls = (name: 'BROADCAST_ENDPOINTS' | 'EXERCISE_BROADCAST_ENDPOINTS') =>
    splitList(cfg[name]).flatMap((u) => {
      if (isHttpUrl(u)) return [normaliseTargetUrl(u)];
      problems.push(`${name}: "${u}" is not an http(s) URL`);
      return [];
    });
  const real = new Set(urls('BROADCAST_ENDPOINTS'));
  const drill = urls('EXERCISE_BROADCAST_ENDPOINTS');
  for (const u of new Set(drill)) if (real.has(u)) problems.push(`EXERCISE_BROADCAST_ENDPOINTS: ${u} is both a real and a drill target (also in BROADCAST_ENDPOINTS)`);
  for (const n of splitList(cfg.EXERCISE_SMS_NUMBERS)) if (!normalisePhone(n)) problems.push(`EXERCISE_SMS_NUMBERS: "${n}" is not an E.164 phone number (+country code and number)`);
  if ((real.size > 0 || drill.length > 0) && !cfg.BROADCAST_SECRET && !cfg.BROADCAST_ALLOW_UNSIGNED) {
    problems.push('BROADCAST_SECRET: required to sign broadcasts to BROADCAST_ENDPOINTS / EXERCISE_BROADCAST_ENDPOINTS (or set BROADCAST_ALLOW_UNSIGNED=true)');
  }
  return problems;
}
