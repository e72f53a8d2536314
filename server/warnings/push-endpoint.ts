import { createPublicKey } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * What a push subscription may point the server at. Anyone can subscribe, and every public
 * warning then makes the server POST to the endpoint, so an endpoint is a request the server
 * makes on a stranger's behalf (SSRF). It must be https on port 443 of a public host name whose
 * every address is public unicast — or match PUSH_ENDPOINT_ALLOWLIST (the browser push services;
 * a deployment's own or a test's fake push service are added there).
 */

/** The push services of Chrome/Edge-on-Android (FCM), Firefox (autopush), Edge/Windows (WNS) and Safari (APNs). */
export const DEFAULT_PUSH_ENDPOINT_ALLOWLIST = [
  'fcm.googleapis.com',
  'android.googleapis.com',
  'updates.push.services.mozilla.com',
  '*.notify.windows.com',
  'web.push.apple.com',
].join(',');

interface AllowEntry {
  /** Lower-case host, or the suffix (with its leading dot) of a `*.` entry. */
  host: string;
  wildcard: boolean;
  port: string;
}

function parseEntry(raw: string): AllowEntry | null {
  const text = raw.trim().toLowerCase();
  const wildcard = text.startsWith('*.') || text.startsWith('https://*.');
  const withScheme = text.startsWith('https://') ? text : `https://${text}`;
  try {
    const url = new URL(withScheme.replace('*.', 'wildcard.'));
    if (url.pathname !== '/' || url.search || url.username) return null;
    const host = url.hostname;
    return { host: wildcard ? host.slice('wildcard'.length) : host, wildcard, port: url.port || '443' };
  } catch {
    return null;
  }
}

const splitList = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

export function pushAllowlistProblems(value: string): string[] {
  return splitList(value)
    .filter((e) => !parseEntry(e))
    .map((e) => `PUSH_ENDPOINT_ALLOWLIST: "${e}" is not a host, *.domain or host:port`);
}

export class PushEndpointPolicy {
  private readonly entries: AllowEntry[];

  constructor(
    allowlist: string,
    private readonly lookup: (host: string) => Promise<string[]> = lookupAll,
  ) {
    this.entries = splitList(allowlist).flatMap((e) => parseEntry(e) ?? []);
  }

  allowlisted(url: URL): boolean {
    const host = url.hostname.toLowerCase();
    const port = url.port || '443';
    return this.entries.some((e) => e.port === port && (e.wildcard ? host.endsWith(e.host) && host.length > e.host.length : host === e.host));
  }

  /** Why the server must not send to this endpoint, or null when it may. Resolves the host name. */
  async refusal(endpoint: string): Promise<string | null> {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return 'not a URL';
    }
    if (url.protocol !== 'https:') return 'push endpoints are https URLs';
    if (url.username || url.password) return 'push endpoints carry no credentials';
    if (this.allowlisted(url)) return null;
    if (url.port !== '') return 'push endpoints use port 443';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) return 'push endpoints name a host, not an IP address';
    let addresses: string[];
    try {
      addresses = await this.lookup(host);
    } catch {
      return `host ${host} does not resolve`;
    }
    if (addresses.length === 0) return `host ${host} does not resolve`;
    if (!addresses.every(isPublicAddress)) return `host ${host} is not on the public internet`;
    return null;
  }

  /**
   * A `lookup` for the push agent: resolution at send time is checked again (a name can be
   * re-pointed at 127.0.0.1 after subscribing), except for allowlisted hosts.
   */
  guardedLookup(): net.LookupFunction {
    return (hostname, options, callback) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = addresses as dns.LookupAddress[];
        const trusted = this.entries.some((e) => (e.wildcard ? hostname.toLowerCase().endsWith(e.host) : hostname.toLowerCase() === e.host));
        if (!trusted && !list.every((a) => isPublicAddress(a.address))) {
          const refused = Object.assign(new Error(`push endpoint host ${hostname} resolves to a non-public address`), { code: 'EPUSHREFUSED' });
          return callback(refused, '', 0);
        }
        if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
        callback(null, list[0]!.address, list[0]!.family);
      });
    };
  }
}

async function lookupAll(host: string): Promise<string[]> {
  return (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

/** Public unicast only: no loopback, private, link-local, CGNAT, unique-local, multicast or reserved ranges. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() === 'unicast';
}

/** A Web Push `p256dh`: the browser's uncompressed P-256 public key, which must be a point on the curve (RFC 8291). */
export function isP256PublicKey(b64url: string): boolean {
  const raw = Buffer.from(b64url, 'base64url');
  if (raw.length !== 65 || raw[0] !== 0x04 || raw.toString('base64url') !== b64url.replace(/=+$/, '')) return false;
  try {
    createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

/** A Web Push `auth` secret: exactly 16 bytes (RFC 8291 §3.2). */
export function isPushAuthSecret(b64url: string): boolean {
  const raw = Buffer.from(b64url, 'base64url');
  return raw.length === 16 && raw.toString('base64url') === b64url.replace(/=+$/, '');
}
