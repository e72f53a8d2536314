import https from 'node:https';
import { readFileSync } from 'node:fs';
import webpush from 'web-push';
import type { Config } from '../../config.js';
import type { Queryable } from '../../db/database.js';
import { pushOptions, pushPayload } from '../messages.js';
import type { VapidKeys } from '../vapid.js';
import { PushEndpointPolicy } from '../push-endpoint.js';
import type { ChannelSender, ClaimedDelivery, SendOutcome, SentWarning } from './types.js';

/** RFC 8292 allows a VAPID JWT to live up to 24 hours; 12 leaves room for clock skew. */
const VAPID_JWT_HOURS = 12;

/**
 * Web Push (RFC 8030/8291/8292) through `web-push`. The payload carries a notification tag per
 * delivery, so a push resent after a crash replaces the shown notification instead of doubling it.
 */
export class PushChannel implements ChannelSender {
  readonly channel = 'push' as const;
  readonly resendAfterCrash = true;
  private readonly agent: https.Agent;
  private prepared = new Map<string, { endpoint: string; p256dh: string; auth: string; token: string | null }>();
  private readonly vapidHeaders = new Map<string, { authorization: string; publicKey: string; expiresAt: number }>();

  constructor(
    config: Config,
    private readonly db: Queryable,
    private readonly vapid: () => VapidKeys,
    private readonly subject: string,
    endpoints: PushEndpointPolicy = new PushEndpointPolicy(config.PUSH_ENDPOINT_ALLOWLIST),
    private readonly publicBase: () => string | null = () => null,
  ) {
    this.agent = new https.Agent({
      keepAlive: true,
      // Resolution is checked again at send time: a name may have been re-pointed since it subscribed.
      lookup: endpoints.guardedLookup(),
      ...(config.WEB_PUSH_CA_FILE ? { ca: readFileSync(config.WEB_PUSH_CA_FILE) } : {}),
    });
  }

  toSink(): boolean {
    return false;
  }

  sinkBody(d: ClaimedDelivery, w: SentWarning): string {
    return this.payload(d, w);
  }

  private payload(d: ClaimedDelivery, w: SentWarning): string {
    const json = pushPayload(w.fields, { exercise: w.mode === 'exercise', msgType: w.msgType, warningId: w.id, identifier: w.identifier, deliveryId: d.id });
    // 叫应: the subscription of a responsible person's own account carries their acknowledge action.
    const token = this.prepared.get(d.target_id)?.token;
    if (!token) return json;
    const base = this.publicBase();
    return JSON.stringify({
      ...(JSON.parse(json) as Record<string, unknown>),
      actions: [{ action: 'ack', title: '收到 / Acknowledge' }],
      ack: { url: `${base ?? ''}/public/ack/${token}`, body: { via: 'push' } },
    });
  }

  async prepare(batch: ClaimedDelivery[]): Promise<void> {
    const { rows } = await this.db.query<{ id: string; endpoint: string; p256dh: string; auth: string; token: string | null }>(
      `SELECT s.id::text AS id, s.endpoint, s.p256dh, s.auth,
              (SELECT a.token FROM users u JOIN warning_recipients r ON r.account = u.username AND r.responsible
                 JOIN warning_acks a ON a.recipient_id = r.id AND a.warning_id = b.warning_id
                WHERE u.id = s.user_id ORDER BY a.id LIMIT 1) AS token
         FROM unnest($1::text[], $2::uuid[]) AS b(target_id, warning_id) JOIN push_subscriptions s ON s.id::text = b.target_id`,
      [batch.map((d) => d.target_id), batch.map((d) => d.warning_id)],
    );
    this.prepared = new Map(rows.map((r) => [r.id, r]));
  }

  async send(d: ClaimedDelivery, w: SentWarning): Promise<SendOutcome> {
    const sub = this.prepared.get(d.target_id);
    if (!sub) return { kind: 'failed', error: 'subscription removed' };
    const subscription = { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } };
    let request: webpush.RequestDetails;
    try {
      // web-push encrypts (RFC 8291); the VAPID header comes from the cache instead of a new ES256
      // signature per message. Encryption fails the same way on every attempt (a key that is no
      // P-256 point, a bad auth secret): that is a failed delivery now, not six retries.
      request = webpush.generateRequestDetails(subscription, this.payload(d, w), {
        ...pushOptions(w.fields),
        headers: { Authorization: this.vapidAuthorization(sub.endpoint) },
        contentEncoding: 'aes128gcm',
      });
    } catch (err) {
      return { kind: 'failed', error: `cannot encrypt for this subscription: ${(err as Error).message}` };
    }
    try {
      const res = await postPush(request, this.agent, 15_000);
      if (res.status >= 200 && res.status < 300) return { kind: 'delivered', receipt: { status: res.status, location: res.location } };
      if (res.status === 404 || res.status === 410) {
        // The browser unsubscribed: forget the subscription (RFC 8030 §7.3).
        await this.db.query('DELETE FROM push_subscriptions WHERE id::text = $1', [d.target_id]);
        return { kind: 'failed', error: `push service ${res.status}: subscription gone (deleted)`, receipt: { status: res.status } };
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408) return { kind: 'failed', error: `push service ${res.status}`, receipt: { status: res.status } };
      return { kind: 'retry', error: `push service ${res.status}` };
    } catch (err) {
      if ((err as { code?: string }).code === 'EPUSHREFUSED') return { kind: 'failed', error: (err as Error).message };
      return { kind: 'retry', error: `push service network: ${(err as Error).message}` };
    }
  }

  /**
   * The VAPID `Authorization` header for an endpoint's push service (RFC 8292): a JWT for the
   * service's origin, valid VAPID_JWT_HOURS, reused until an hour before it expires. Signing one
   * per message cost more than the encryption.
   */
  private vapidAuthorization(endpoint: string): string {
    const keys = this.vapid();
    const audience = new URL(endpoint).origin;
    const now = Math.floor(Date.now() / 1000);
    const cached = this.vapidHeaders.get(audience);
    if (cached && cached.publicKey === keys.publicKey && cached.expiresAt - now > 3600) return cached.authorization;
    const expiresAt = now + VAPID_JWT_HOURS * 3600;
    const { Authorization } = webpush.getVapidHeaders(audience, this.subject, keys.publicKey, keys.privateKey, 'aes128gcm', expiresAt);
    this.vapidHeaders.set(audience, { authorization: Authorization, publicKey: keys.publicKey, expiresAt });
    return Authorization;
  }
}

/** POSTs one prepared push message (what web-push's sendNotification does, without encrypting it a second time). */
function postPush(request: webpush.RequestDetails, agent: https.Agent, timeoutMs: number): Promise<{ status: number; location: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request(request.endpoint, { method: request.method, headers: request.headers as Record<string, string | number>, agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: (res.headers.location as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('push service timed out')));
    req.on('error', reject);
    req.end(request.body ?? undefined);
  });
}
