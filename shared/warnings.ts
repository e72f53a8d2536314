import { z } from 'zod';
import { WARNING_CHANNELS, WARNING_COLOURS, type Bilingual, type WarningChannel, type WarningColour } from './labels.js';
import { areaSchema, type Area } from './plan.js';
import { userText } from './text.js';

/** Warning texts as people write them: both languages, no control characters, never blank. */
const warningText = z.object({ zh: userText({ max: 4000, multiline: true }), en: userText({ max: 4000, multiline: true }) }).strict();

/** Who a warning is for: roles and teams of responders, and/or the public subscriber lists in the area. */
export const warningAudienceSchema = z
  .object({
    description: warningText,
    roles: z.array(userText({ max: 50 })).max(20).optional(),
    teams: z.array(userText({ max: 50 })).max(200).optional(),
    public: z.boolean().optional(),
  })
  .strict();

/** Area as a warning needs it: a polygon or a circle (or both) to target recipients and fill CAP <area>. */
export const warningAreaSchema = areaSchema.safeExtend({ description: warningText }).refine((a) => a.polygon !== undefined || a.circle !== undefined, {
  message: 'an area needs a polygon or a circle',
});

/**
 * 叫应: the warning's responsible-person recipients must answer within `withinMinutes`; whoever has
 * not is sent it again, then called after `callAfterMinutes` more, then their superior is alerted
 * after `escalateAfterMinutes` more (both default to `withinMinutes`). Fractions allowed (tests use seconds).
 */
export const acknowledgementSchema = z
  .object({
    withinMinutes: z.number().min(0.01).max(1440),
    callAfterMinutes: z.number().min(0.01).max(1440).optional(),
    escalateAfterMinutes: z.number().min(0.01).max(1440).optional(),
  })
  .strict();
export type AcknowledgementPolicy = z.infer<typeof acknowledgementSchema>;

export const warningFieldsSchema = z
  .object({
    colour: z.enum(WARNING_COLOURS),
    area: warningAreaSchema,
    audience: warningAudienceSchema,
    channels: z.array(z.enum(WARNING_CHANNELS)).min(1).max(3),
    headline: warningText,
    text: warningText,
    instruction: warningText.optional(),
    /** How long the warning stands (CAP <expires> = sent + this); the server's default when absent. */
    validHours: z.number().int().min(1).max(720).optional(),
    acknowledgement: acknowledgementSchema.optional(),
  })
  .strict();

export type WarningFields = z.infer<typeof warningFieldsSchema>;

/** POST /api/incidents/:id/warnings: a template fills the draft, explicit fields override it. */
export const draftInputSchema = warningFieldsSchema.partial().extend({ template: z.string().min(1).max(100).optional() }).strict();
export const editInputSchema = warningFieldsSchema.partial().strict();

export const WARNING_STATUSES = ['draft', 'sent', 'superseded', 'cancelled'] as const;
export type WarningStatus = (typeof WARNING_STATUSES)[number];
export const CAP_MSG_TYPES = ['Alert', 'Update', 'Cancel'] as const;
export type CapMsgType = (typeof CAP_MSG_TYPES)[number];

export const DELIVERY_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'unknown', 'blocked', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface ChannelProgress {
  channel: WarningChannel;
  total: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  failed: number;
  /** Exercise deliveries the worker refused because the target is not a drill sink. */
  blocked: number;
  /** SMS whose provider call may or may not have happened (crash during the call): never resent blindly. */
  unknown: number;
  cancelled: number;
  /** delivered / total, in percent. */
  coveragePercent: number;
}

export interface WarningProgress {
  /** Channels that had recipients. */
  channels: ChannelProgress[];
  /** Channels the warning was to go out on that matched no recipient at all. */
  noRecipients: WarningChannel[];
  /** Recipients reached on at least one channel / recipients targeted, in percent. */
  coveragePercent: number;
  approvedAt: string | null;
  firstDeliveryMs: number | null;
  p95DeliveredMs: number | null;
}

export interface WarningView extends WarningFields {
  id: string;
  incidentId: string;
  mode: 'actual' | 'exercise';
  status: WarningStatus;
  msgType: CapMsgType;
  references: string | null;
  templateId: string | null;
  identifier: string | null;
  authorId: string;
  approverId: string | null;
  createdAt: string;
  updatedAt: string;
  approvedAt: string | null;
  delivery: WarningProgress | null;
  /** 叫应: who must answer and who has; null when the warning asks for no acknowledgement or is a draft. */
  acks: AckSummary | null;
  /** Exactly what each chosen channel will carry (with 【演练】 in exercises), so the approver signs what goes out. */
  outgoing: OutgoingMessages;
}

export interface OutgoingMessages {
  sms: { body: string; encoding: 'GSM-7' | 'UCS-2'; segments: number } | null;
  push: { title: string; body: string } | null;
  broadcast: { headline: Bilingual; description: Bilingual } | null;
}

export type { Area, Bilingual, WarningChannel, WarningColour };

export interface AckPerson {
  recipientId: string;
  name: string | null;
  /** Escalation steps already taken for this person: resend, call, escalate. */
  steps: string[];
}

export interface AckSummary {
  required: number;
  acknowledged: number;
  /** 叫应率: acknowledged / required, in percent. */
  ratePercent: number;
  dueAt: string | null;
  /** Approval → 95 % acknowledged, null until reached. */
  p95AckMs: number | null;
  /** Who has not answered yet (at most 200, by name). */
  pending: AckPerson[];
}
