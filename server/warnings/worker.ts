import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { withTransaction, type Database } from '../db/database.js';
import type { Logger } from '../log.js';
import type { WarningChannel } from '../../shared/labels.js';
import type { ExerciseSinks } from './exercise-sinks.js';
import type { ProgressReporter } from './progress-reporter.js';
import { RateLimiter } from './rate-limit.js';
import type { ChannelSender, ClaimedDelivery, SendOutcome, SentWarning } from './channels/types.js';
import { BackgroundLoops, idleSleepMs, msUntilDue } from '../background/loops.js';

const CONCURRENCY: Record<WarningChannel, number> = { sms: 8, push: 32, broadcast: 8 };

/**
 * The outbox worker: claims due deliveries with FOR UPDATE SKIP LOCKED (marking them `sending`
 * in the same statement, so several nodes never take the same row), sends outside any
 * transaction, then records the outcome. No pooled client is held across an external call.
 */
export class OutboxWorker {
  private readonly background = new BackgroundLoops();
  private readonly limiters: Record<WarningChannel, { take(): Promise<void> }>;
  private readonly cache = new Map<string, SentWarning>();

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly senders: Record<WarningChannel, ChannelSender>,
    private readonly sinks: ExerciseSinks,
    private readonly progress: ProgressReporter,
    private readonly log: Logger,
    /** Per-channel send rates; default: this node's own token buckets (the warnings module passes cluster-wide ones). */
    limiters?: Record<WarningChannel, { take(): Promise<void> }>,
    /** What its claims are marked with (`claimed_by`): the cluster's node id, so a row names the node that holds it. */
    readonly nodeId = `node-${randomUUID().slice(0, 8)}`,
  ) {
    this.limiters = limiters ?? { sms: new RateLimiter(config.WARNING_RATE_SMS), push: new RateLimiter(config.WARNING_RATE_PUSH), broadcast: new RateLimiter(config.WARNING_RATE_BROADCAST) };
  }

  start(): void {
    this.background.start(...(Object.keys(this.senders) as WarningChannel[]).map((ch) => () => this.loop(ch)), () => this.reaperLoop());
  }

  /** Wakes sleeping loops (a warning was just approved on this node). */
  wake(): void {
    this.background.wake();
  }

  stop(): Promise<void> {
    return this.background.stop();
  }

  private async loop(channel: WarningChannel): Promise<void> {
    while (this.background.running) {
      try {
        // Asking when the next delivery is due costs less than an empty claim: idle, that is the
        // one query a wake-up makes.
        const wait = await msUntilDue(this.db.pool, `SELECT min(next_attempt_at) FROM warning_deliveries WHERE channel = $1 AND status = 'queued'`, [channel]);
        const batch = wait !== null && wait <= 0 ? await this.claim(channel) : [];
        if (batch.length === 0) {
          await this.background.sleep(idleSleepMs(wait, this.config.WARNING_POLL_MS));
          continue;
        }
        await this.process(channel, batch);
      } catch (err) {
        this.log.error({ err, channel }, 'outbox worker error');
        await this.background.sleep(1000);
      }
    }
  }

  /** Rows left in `sending` by a crashed or stalled node: resend only where the far side dedupes. */
  private async reaperLoop(): Promise<void> {
    while (this.background.running) {
      try {
        const noResend = Object.values(this.senders).filter((s) => !s.resendAfterCrash).map((s) => s.channel);
        const { rows } = await this.db.pool.query<{ warning_id: string }>(
          `UPDATE warning_deliveries
              SET status = CASE WHEN channel = ANY($2::text[]) THEN 'unknown' ELSE 'queued' END,
                  next_attempt_at = now(), last_error = 'claim expired: the node stopped during the send'
            WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1::float8 / 1000)
            RETURNING warning_id`,
          [this.config.WARNING_CLAIM_TIMEOUT_MS, noResend],
        );
        for (const id of new Set(rows.map((r) => r.warning_id))) this.progress.touch(id);
        if (rows.length > 0) {
          this.log.warn({ count: rows.length }, 'recovered deliveries from expired claims');
          this.wake();
        }
      } catch (err) {
        this.log.error({ err }, 'outbox reaper error');
      }
      await this.background.sleep(Math.min(5000, Math.max(200, this.config.WARNING_CLAIM_TIMEOUT_MS / 4)));
    }
  }

  private async claim(channel: WarningChannel): Promise<ClaimedDelivery[]> {
    const { rows } = await this.db.pool.query<ClaimedDelivery>(
      `UPDATE warning_deliveries d SET status = 'sending', attempts = d.attempts + 1, claimed_by = $3, claimed_at = now()
         FROM (SELECT id FROM warning_deliveries
                WHERE channel = $1 AND status = 'queued' AND next_attempt_at <= now()
                ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
        WHERE d.id = due.id
        RETURNING d.id, d.warning_id, d.channel, d.target_id, d.address, d.attempts`,
      [channel, this.config.WARNING_BATCH_SIZE, this.nodeId],
    );
    return rows.sort((a, b) => a.id - b.id);
  }

  private async warning(id: string): Promise<SentWarning> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const { rows } = await this.db.pool.query<{ id: string; mode: 'actual' | 'exercise'; msg_type: SentWarning['msgType']; identifier: string; fields: SentWarning['fields']; cap_xml: string; gbt_xml: string | null }>(
      'SELECT id, mode, msg_type, identifier, fields, cap_xml, gbt_xml FROM warnings WHERE id = $1',
      [id],
    );
    const r = rows[0]!;
    const w: SentWarning = { id: r.id, mode: r.mode, msgType: r.msg_type, identifier: r.identifier, fields: r.fields, capXml: r.cap_xml, gbtXml: r.gbt_xml };
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(id, w);
    return w;
  }

  /**
   * Exercise isolation at the transport: an exercise warning leaves this node only for the
   * built-in sink or a target flagged for drills — whatever was enqueued, by whatever means.
   */
  private async exerciseSafe(sender: ChannelSender, d: ClaimedDelivery): Promise<boolean> {
    if (sender.toSink(d)) return true;
    const q = (sql: string, params: unknown[]) => this.db.pool.query<{ ok: boolean }>(sql, params).then((r) => r.rows[0]?.ok === true);
    switch (d.channel) {
      case 'sms':
        return (d.address !== null && this.sinks.smsNumbers.includes(d.address)) ||
          q('SELECT bool_and(drill) AS ok FROM warning_recipients WHERE phone = $1', [d.address]);
      case 'push':
        return q('SELECT drill AS ok FROM push_subscriptions WHERE id::text = $1', [d.target_id]);
      case 'broadcast':
        return q('SELECT (exercise OR url = ANY($2::text[])) AS ok FROM broadcast_endpoints WHERE id = $1', [d.target_id, this.sinks.broadcastUrls]);
    }
  }

  private async process(channel: WarningChannel, batch: ClaimedDelivery[]): Promise<void> {
    const sender = this.senders[channel];
    const toSink: { d: ClaimedDelivery; body: string }[] = [];
    const external: { d: ClaimedDelivery; w: SentWarning }[] = [];
    const blocked: ClaimedDelivery[] = [];
    // Loads what the bodies need (subscriptions, 叫应 tokens) for the whole batch, sink rows too.
    await sender.prepare?.(batch);
    for (const d of batch) {
      const w = await this.warning(d.warning_id);
      if (w.mode === 'exercise' && !(await this.exerciseSafe(sender, d))) blocked.push(d);
      else if (sender.toSink(d)) toSink.push({ d, body: sender.sinkBody(d, w) });
      else external.push({ d, w });
    }
    if (blocked.length > 0) {
      this.log.error({ channel, deliveries: blocked.map((d) => d.id) }, 'exercise delivery to a non-drill target refused');
      await this.db.pool.query(
        `UPDATE warning_deliveries SET status = 'blocked', last_error = 'exercise warning: target is not a drill sink' WHERE id = ANY($1::bigint[])`,
        [blocked.map((d) => d.id)],
      );
    }
    if (toSink.length > 0) await this.writeSink(toSink);
    // Successful pushes and broadcasts are recorded per batch (one statement); a crash before
    // that leaves them `sending`, and they are resent under their idempotency key / tag. SMS
    // (no idempotency at Twilio) is recorded one by one, right after each call.
    const deliveredLater: { id: number; receipt: string | null }[] = [];
    let next = 0;
    const workers = Array.from({ length: Math.min(CONCURRENCY[channel], external.length) }, async () => {
      while (next < external.length) {
        const { d, w } = external[next++]!;
        await this.limiters[channel].take();
        let outcome: SendOutcome;
        try {
          outcome = await sender.send(d, w);
        } catch (err) {
          outcome = { kind: 'retry', error: (err as Error).message };
        }
        if (outcome.kind === 'delivered' && sender.resendAfterCrash) deliveredLater.push({ id: d.id, receipt: outcome.receipt ? JSON.stringify(outcome.receipt) : null });
        else await this.record(d, outcome);
      }
    });
    await Promise.all(workers);
    if (deliveredLater.length > 0) {
      await this.db.pool.query(
        `UPDATE warning_deliveries d SET status = 'delivered', sent_at = coalesce(d.sent_at, now()), delivered_at = now(), receipt = r.receipt::jsonb, last_error = NULL
           FROM unnest($1::bigint[], $2::text[]) AS r(id, receipt) WHERE d.id = r.id`,
        [deliveredLater.map((x) => x.id), deliveredLater.map((x) => x.receipt)],
      );
    }
    for (const id of new Set(batch.map((d) => d.warning_id))) this.progress.touch(id);
  }

  /** The sink message and the delivered status commit together: the sink never records twice. */
  private async writeSink(items: { d: ClaimedDelivery; body: string }[]): Promise<void> {
    await withTransaction(this.db.pool, async (tx) => {
      await tx.query(
        `INSERT INTO warning_sink_messages (delivery_id, warning_id, channel, address, body)
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (delivery_id) DO NOTHING`,
        [items.map((i) => i.d.id), items.map((i) => i.d.warning_id), items.map((i) => i.d.channel), items.map((i) => i.d.address), items.map((i) => i.body)],
      );
      await tx.query(
        `UPDATE warning_deliveries SET status = 'delivered', sent_at = now(), delivered_at = now(), provider_id = 'sink', last_error = NULL
          WHERE id = ANY($1::bigint[]) AND status = 'sending'`,
        [items.map((i) => i.d.id)],
      );
    });
  }

  private async record(d: ClaimedDelivery, outcome: SendOutcome): Promise<void> {
    const pool = this.db.pool;
    switch (outcome.kind) {
      case 'delivered':
        await pool.query(
          `UPDATE warning_deliveries SET status = 'delivered', sent_at = coalesce(sent_at, now()), delivered_at = now(), provider_id = $2, receipt = $3, last_error = NULL WHERE id = $1`,
          [d.id, outcome.providerId ?? null, outcome.receipt ? JSON.stringify(outcome.receipt) : null],
        );
        return;
      case 'sent':
        // A status callback may already have moved it on: never move it back.
        await pool.query(
          `UPDATE warning_deliveries SET status = CASE WHEN status IN ('sending', 'unknown') THEN 'sent' ELSE status END,
                  sent_at = coalesce(sent_at, now()), provider_id = $2, segments = $3, last_error = NULL WHERE id = $1`,
          [d.id, outcome.providerId ?? null, outcome.segments ?? null],
        );
        return;
      case 'failed':
        await pool.query(`UPDATE warning_deliveries SET status = 'failed', last_error = $2, receipt = $3 WHERE id = $1`, [d.id, outcome.error, outcome.receipt ? JSON.stringify(outcome.receipt) : null]);
        return;
      case 'retry': {
        if (d.attempts >= this.config.WARNING_MAX_ATTEMPTS) {
          await pool.query(`UPDATE warning_deliveries SET status = 'failed', last_error = $2 WHERE id = $1`, [d.id, `gave up after ${d.attempts} attempts: ${outcome.error}`]);
          return;
        }
        await pool.query(
          `UPDATE warning_deliveries SET status = 'queued', last_error = $2, next_attempt_at = now() + make_interval(secs => $3::float8 / 1000) WHERE id = $1`,
          [d.id, outcome.error, retryDelayMs(d.attempts, this.config.WARNING_RETRY_BASE_MS)],
        );
        return;
      }
    }
  }
}

/** Exponential backoff with full jitter in [0.5, 1.5) of the step, capped at 10 minutes. */
export function retryDelayMs(attempt: number, baseMs: number): number {
  const step = Math.min(10 * 60_000, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + Math.random()));
}
