import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type { Config } from '../../config.js';
import { smsBody, smsSegments } from '../../warnings/messages.js';
import type { ChannelSender, ClaimedDelivery, SendOutcome, SentWarning } from './types.js';

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

  constructor(
    private readonly config: Config,
    private readonly callbackBase: () => string | null,
  ) {
    this.client = twilioConfigured(config)
      ? twilio(config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN, {
          httpClient: config.TWILIO_API_BASE_URL ? new BaseUrlRequestClient(new URL(config.TWILIO_API_BASE_URL)) : undefined,
        })
      : null;
    this.resendAfterCrash = this.client === null;
  }

  toSink(): boolean {
    return this.client === null;
  }

  sinkBody(_d: ClaimedDelivery, w: SentWarning): string {
    return smsBody(w.fields, { exercise: w.mode === 'exercise', msgType: w.msgType });
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
