import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type { Config } from '../../config.js';
import { smsBody, smsSegments } from '../../warnings/messages.js';
import type { ChannelSender, ClaimedDelivery, SendOutcome, SentWarning } from './types.js';
import type { Queryable } from '../../db/database.js';
import { ackSmsSuffix } from '../../acknowledgements/acks.js';

/** Points the real twilio client at another base URL (a local fake): it can't via edge/region. */
class BaseUrlRequestClient extends twilio.RequestClient {
  constructor(private readonly base: URL) {
    super({ timeout: 15_000 });
  }
  override request<T>(opts: RequestClient.RequestOptions<T>) {
    const uri = new URL(opts.uri);
    uri.protocol = this.base.protocol;
    uri.host = this.base.host;
    return super.request<T>({ ...opts, uri: uri.toString() });
  }
}

/** The twilio client for this configuration (null without credentials). */
export function twilioClient(config: Config): ReturnType<typeof twilio> | null {
  return twilioConfigured(config)
    ? twilio(config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN, {
        httpClient: config.TWILIO_API_BASE_URL ? new BaseUrlRequestClient(new URL(config.TWILIO_API_BASE_URL)) : undefined,
      })
    : null;
}

export function twilioConfigured(config: Config): boolean {
  return Boolean(config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN && config.TWILIO_FROM);
}

/** Twilio statuses that mean a message left us but did not reach a handset (permanent). */
const TWILIO_FAILED = new Set(['failed', 'undelivered', 'canceled']);

/**
 * SMS through the Twilio Messages API. Twilio has no idempotency key, so a delivery found in
 * `sending` after a crash becomes `unknown` (the status callback may still settle it), never resent.
 */
export class SmsChannel implements ChannelSender {
  readonly channel = 'sms' as const;
  readonly resendAfterCrash: boolean;
  private readonly client: ReturnType<typeof twilio> | null;
  /** 叫应 tokens of the batch's recipients: `warningId|phone` → token. */
  private tokens = new Map<string, string>();

  constructor(
    private readonly config: Config,
    private readonly callbackBase: () => string | null,
    private readonly db?: Queryable,
  ) {
    this.client = twilioClient(config);
    this.resendAfterCrash = this.client === null;
  }

  async prepare(batch: ClaimedDelivery[]): Promise<void> {
    if (!this.db) return;
    const { rows } = await this.db.query<{ k: string; token: string }>(
      `SELECT a.warning_id || '|' || a.phone AS k, a.token FROM warning_acks a
         JOIN unnest($1::uuid[], $2::text[]) AS b(warning_id, phone) ON a.warning_id = b.warning_id AND a.phone = b.phone`,
      [batch.map((d) => d.warning_id), batch.map((d) => d.address ?? '')],
    );
    this.tokens = new Map(rows.map((r) => [r.k, r.token]));
  }

  toSink(): boolean {
    return this.client === null;
  }

  sinkBody(d: ClaimedDelivery, w: SentWarning): string {
    const body = smsBody(w.fields, { exercise: w.mode === 'exercise', msgType: w.msgType });
    // 叫应: a responsible person's message says how to answer and carries their own link.
    const token = this.tokens.get(`${d.warning_id}|${d.address}`);
    return token ? `${body}\n${ackSmsSuffix(this.callbackBase(), token)}` : body;
  }

  async send(d: ClaimedDelivery, w: SentWarning): Promise<SendOutcome> {
    if (!this.client || !d.address) return { kind: 'failed', error: 'no SMS transport or no number' };
    const body = this.sinkBody(d, w);
    const base = this.callbackBase();
    try {
      const msg = await this.client.messages.create({
        to: d.address,
        from: this.config.TWILIO_FROM!,
        body,
        ...(base ? { statusCallback: `${base}/webhooks/twilio/status?delivery=${d.id}` } : {}),
      });
      if (TWILIO_FAILED.has(msg.status)) return { kind: 'failed', error: `twilio status ${msg.status}` };
      return { kind: 'sent', providerId: msg.sid, segments: smsSegments(body).segments };
    } catch (err) {
      const status = (err as { status?: number }).status;
      const message = (err as Error).message;
      // 4xx other than 429: the request itself is wrong (bad number…); retrying won't help.
      if (status && status >= 400 && status < 500 && status !== 429) return { kind: 'failed', error: `twilio ${status}: ${message}` };
      return { kind: 'retry', error: `twilio ${status ?? 'network'}: ${message}` };
    }
  }
}
