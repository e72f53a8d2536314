import type { CapMsgType, OutgoingMessages, WarningFields } from '../../shared/warnings.js';
import { AppError } from '../http/errors.js';
import { COLOUR_TO_CAP, markExercise } from './cap/rules.js';

/** Twilio's own ceiling for one message body. */
export const SMS_MAX_CHARS = 1600;
/** Our ceiling: a warning SMS longer than this many segments is too long to read on a phone. */
export const SMS_MAX_SEGMENTS = 10;
/** Web Push payloads must fit in 4 KiB after encryption overhead. */
export const PUSH_MAX_PAYLOAD_BYTES = 3800;

const GSM7 = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;

/**
 * Segments an SMS body needs. Chinese forces UCS-2: 70 characters fit one message, 67 per
 * segment once concatenated (the UDH takes 3). GSM-7: 160 single / 153 per segment.
 * Characters outside the BMP take two UCS-2 code units.
 */
export function smsSegments(body: string): { encoding: 'GSM-7' | 'UCS-2'; units: number; segments: number } {
  if (GSM7.test(body)) {
    const units = [...body].reduce((n, c) => n + ('^{}\\[~]|€'.includes(c) ? 2 : 1), 0);
    return { encoding: 'GSM-7', units, segments: units <= 160 ? 1 : Math.ceil(units / 153) };
  }
  const units = body.length; // UTF-16 code units = UCS-2 units
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

export interface MessageContext {
  exercise: boolean;
  msgType: CapMsgType;
}

/** The SMS body: Chinese text and instruction (the public's phones are set to Chinese). */
export function smsBody(f: WarningFields, ctx: MessageContext): string {
  const text = f.instruction ? `${f.text.zh}${f.instruction.zh}` : f.text.zh;
  return markExercise(text, 'zh', ctx.exercise);
}

export function pushPayload(f: WarningFields, ctx: MessageContext & { warningId: string; identifier: string; deliveryId: number | string }): string {
  return JSON.stringify({
    // The service worker shows it with this tag: a redelivered push replaces, never duplicates.
    tag: `yingji-${ctx.deliveryId}`,
    deliveryId: String(ctx.deliveryId),
    warningId: ctx.warningId,
    identifier: ctx.identifier,
    msgType: ctx.msgType,
    status: ctx.exercise ? 'Exercise' : 'Actual',
    colour: f.colour,
    severity: COLOUR_TO_CAP[f.colour].severity,
    title: markExercise(f.headline.zh, 'zh', ctx.exercise),
    body: markExercise(f.text.zh, 'zh', ctx.exercise),
    en: { title: markExercise(f.headline.en, 'en', ctx.exercise), body: markExercise(f.text.en, 'en', ctx.exercise) },
  });
}

/** What each chosen channel carries, built by the same functions the channels send with. */
export function outgoingMessages(f: WarningFields, ctx: MessageContext): OutgoingMessages {
  const mark = (b: { zh: string; en: string }) => ({ zh: markExercise(b.zh, 'zh', ctx.exercise), en: markExercise(b.en, 'en', ctx.exercise) });
  const sms = f.channels.includes('sms') ? smsBody(f, ctx) : null;
  const push = f.channels.includes('push') ? (JSON.parse(pushPayload(f, { ...ctx, warningId: '', identifier: '', deliveryId: '' })) as { title: string; body: string }) : null;
  return {
    sms: sms === null ? null : { body: sms, ...(({ encoding, segments }) => ({ encoding, segments }))(smsSegments(sms)) },
    push: push && { title: push.title, body: push.body },
    broadcast: f.channels.includes('broadcast') ? { headline: mark(f.headline), description: mark(f.text) } : null,
  };
}

/** Web Push TTL (seconds) and Urgency header from the warning colour. */
export function pushOptions(f: WarningFields): { TTL: number; urgency: 'very-low' | 'low' | 'normal' | 'high' } {
  switch (f.colour) {
    case 'red':
      return { TTL: 6 * 3600, urgency: 'high' };
    case 'orange':
      return { TTL: 12 * 3600, urgency: 'high' };
    case 'yellow':
      return { TTL: 24 * 3600, urgency: 'normal' };
    default:
      return { TTL: 24 * 3600, urgency: 'low' };
  }
}

/** Refuses texts no channel could carry, before anything is stored or enqueued. */
export function checkChannelLimits(f: WarningFields, ctx: MessageContext): void {
  if (f.channels.includes('sms')) {
    const body = smsBody(f, ctx);
    const seg = smsSegments(body);
    if (body.length > SMS_MAX_CHARS || seg.segments > SMS_MAX_SEGMENTS) {
      throw new AppError('text_too_long', `the SMS would be ${seg.segments} segments (${seg.units} ${seg.encoding} characters); at most ${SMS_MAX_SEGMENTS}`, {
        channel: 'sms', segments: seg.segments, characters: seg.units, encoding: seg.encoding, maxSegments: SMS_MAX_SEGMENTS,
      });
    }
  }
  if (f.channels.includes('push')) {
    const bytes = Buffer.byteLength(pushPayload(f, { ...ctx, warningId: '00000000-0000-0000-0000-000000000000', identifier: 'x'.repeat(48), deliveryId: 9_999_999_999 }));
    if (bytes > PUSH_MAX_PAYLOAD_BYTES) {
      throw new AppError('text_too_long', `the push payload would be ${bytes} bytes; at most ${PUSH_MAX_PAYLOAD_BYTES}`, { channel: 'push', bytes, maxBytes: PUSH_MAX_PAYLOAD_BYTES });
    }
  }
}
