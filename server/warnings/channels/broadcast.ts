import { createHmac } from 'node:crypto';
import type { Queryable } from '../../db/database.js';
import { truncateUtf8 } from './receipt.js';
import type { ChannelSender, ClaimedDelivery, SendOutcome, SentWarning } from './types.js';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Emergency-broadcast head-ends and display screens: the CAP XML POSTed, signed with
 * HMAC-SHA256 (X-Yingji-Signature) and carrying an Idempotency-Key so a resend is deduped.
 * The endpoint's HTTP answer is kept as the receipt.
 */
export class BroadcastChannel implements ChannelSender {
  readonly channel = 'broadcast' as const;
  readonly resendAfterCrash = true;

  constructor(
    private readonly db: Queryable,
    private readonly defaultSecret: string | undefined,
    private readonly allowUnsigned = false,
  ) {}

  toSink(d: ClaimedDelivery): boolean {
    return d.target_id === 'sink';
  }

  sinkBody(_d: ClaimedDelivery, w: SentWarning): string {
    return w.capXml;
  }

  async send(d: ClaimedDelivery, w: SentWarning): Promise<SendOutcome> {
    const { rows } = await this.db.query<{ url: string | null; secret: string | null; format: 'cap' | 'gbt35965' }>('SELECT url, secret, format FROM broadcast_endpoints WHERE id = $1', [d.target_id]);
    const endpoint = rows[0];
    if (!endpoint?.url) return { kind: 'failed', error: 'endpoint removed' };
    const secret = endpoint.secret ?? this.defaultSecret;
    // A head-end cannot tell an unsigned alert from a forged one: refused unless the deployment opted in.
    if (!secret && !this.allowUnsigned) return { kind: 'failed', error: 'no signing secret for this endpoint (set BROADCAST_SECRET, or BROADCAST_ALLOW_UNSIGNED=true)' };
    const gbt = endpoint.format === 'gbt35965';
    if (gbt && !w.gbtXml) return { kind: 'failed', error: 'this warning has no GB/T 35965.1 message' };
    const body = gbt ? w.gbtXml! : w.capXml;
    const headers: Record<string, string> = {
      'content-type': gbt ? 'application/xml; charset=utf-8' : 'application/cap+xml; charset=utf-8',
      'idempotency-key': `${w.identifier}:${d.id}`,
      'x-yingji-delivery-id': String(d.id),
      'x-yingji-cap-identifier': w.identifier,
    };
    if (gbt) headers['x-yingji-format'] = 'gbt35965';
    if (secret) headers['x-yingji-signature'] = signBody(secret, body);
    try {
      const res = await fetch(endpoint.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
      const text = truncateUtf8(await res.text());
      const receipt = { status: res.status, body: text, at: new Date().toISOString() };
      if (res.ok) return { kind: 'delivered', receipt };
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return { kind: 'failed', error: `endpoint ${res.status}`, receipt };
      return { kind: 'retry', error: `endpoint ${res.status}` };
    } catch (err) {
      return { kind: 'retry', error: `endpoint unreachable: ${(err as Error).message}` };
    }
  }
}
