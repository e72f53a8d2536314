import type { WarningChannel } from '../../../shared/labels.js';
import type { CapMsgType, WarningFields } from '../../../shared/warnings.js';

export interface ClaimedDelivery {
  id: number;
  warning_id: string;
  channel: WarningChannel;
  target_id: string;
  address: string | null;
  attempts: number;
}

/** What a channel needs of the approved warning (immutable once sent, so cached per node). */
export interface SentWarning {
  id: string;
  mode: 'actual' | 'exercise';
  msgType: CapMsgType;
  identifier: string;
  fields: WarningFields;
  capXml: string;
  /** The GB/T 35965.1-2018 message, for head-ends configured for it (null for warnings approved before it existed). */
  gbtXml: string | null;
}

export type SendOutcome =
  | { kind: 'sent' | 'delivered'; providerId?: string; receipt?: Record<string, unknown>; segments?: number }
  | { kind: 'retry'; error: string }
  | { kind: 'failed'; error: string; receipt?: Record<string, unknown> };

export interface ChannelSender {
  channel: WarningChannel;
  /** True when this delivery goes to the built-in sink instead of an external service. */
  toSink(d: ClaimedDelivery): boolean;
  /** The body the sink records (what would have been sent). */
  sinkBody(d: ClaimedDelivery, w: SentWarning): string;
  send(d: ClaimedDelivery, w: SentWarning): Promise<SendOutcome>;
  /** Optional: load what the batch's sends need in one query instead of one per delivery. */
  prepare?(batch: ClaimedDelivery[]): Promise<void>;
  /**
   * Whether a row found stuck in `sending` after a crash may be sent again: only when the far
   * side dedupes (idempotency key, notification tag) or the send went to our own sink.
   */
  resendAfterCrash: boolean;
}
