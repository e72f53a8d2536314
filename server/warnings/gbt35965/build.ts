import type { HazardType, IncidentMode } from '../../../shared/labels.js';
import type { CapMsgType, WarningFields } from '../../../shared/warnings.js';
import { COLOUR_TO_CAP, capCircle, capPolygon, markExercise } from '../cap/rules.js';
import { COLOUR_TO_GBT_SEVERITY, GBT_IDENTIFIER, HAZARD_TO_GBT_EVENT } from './rules.js';

export interface GbtInput {
  identifier: string;
  /** The issuing unit's 14-digit code (ZZZZZZDDDUUUXX). */
  senderCode: string;
  sendTime: string;
  mode: IncidentMode;
  msgType: CapMsgType;
  hazard: HazardType;
  fields: WarningFields;
  /** GB/T identifier of the message this one updates or cancels. */
  references?: string | null;
  expires: string;
  web?: string | null;
  contact: string;
  /** GB/T 2260 code of the area the warning covers (the issuing district). */
  divisionCode: string;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const el = (name: string, value: string | number | null | undefined, indent: string) =>
  value === undefined || value === null ? '' : `${indent}<${name}>${escapeXml(String(value))}</${name}>\n`;

export const GBT_SENDER_NAME = '沈阳市铁西区应急管理局';

/**
 * A GB/T 35965.1-2018 early-warning message: the alert block (identifier, sender, senderCode,
 * sendTime, status, msgType, scope, …) and one Chinese info block with the GB/T 35561 event type
 * and the colour as 预警级别. Validated in the tests against schemas/gbt35965/GBT35965.1-2018.xsd.
 */
export function buildGbtAlert(input: GbtInput): string {
  if (!GBT_IDENTIFIER.test(input.identifier) || input.identifier.length !== 31) throw new Error(`invalid GB/T 35965.1 identifier ${input.identifier}`);
  const f = input.fields;
  const exercise = input.mode === 'exercise';
  const cap = COLOUR_TO_CAP[f.colour];
  const isPublic = f.audience.public === true;
  const i1 = '  ';
  const i2 = '    ';
  const i3 = '      ';
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<alert>\n';
  xml += el('identifier', input.identifier, i1);
  xml += el('sender', GBT_SENDER_NAME, i1);
  xml += el('senderCode', input.senderCode, i1);
  xml += el('sendTime', input.sendTime, i1);
  xml += el('status', exercise ? 'Exercise' : 'Actual', i1);
  xml += el('msgType', input.msgType, i1);
  xml += el('scope', isPublic ? 'Public' : 'Restricted', i1);
  if (exercise) xml += el('note', '演练信息，非真实预警', i1);
  if (input.msgType !== 'Alert') {
    if (!input.references) throw new Error(`${input.msgType} needs references`);
    xml += el('references', input.references, i1);
  }
  xml += `${i1}<info>\n`;
  xml += el('language', 'zh-CN', i2);
  xml += el('eventType', HAZARD_TO_GBT_EVENT[input.hazard].code, i2);
  xml += el('urgency', input.msgType === 'Cancel' ? 'Past' : cap.urgency, i2);
  xml += el('severity', COLOUR_TO_GBT_SEVERITY[f.colour], i2);
  xml += el('certainty', cap.certainty, i2);
  xml += el('effective', input.sendTime, i2);
  xml += el('expires', input.expires, i2);
  xml += el('senderName', GBT_SENDER_NAME, i2);
  xml += el('headline', markExercise(f.headline.zh, 'zh', exercise), i2);
  xml += el('description', markExercise(f.text.zh, 'zh', exercise), i2);
  if (f.instruction) xml += el('instruction', f.instruction.zh, i2);
  xml += el('web', input.web, i2);
  xml += el('contact', input.contact, i2);
  xml += `${i2}<area>\n`;
  xml += el('areaDesc', f.area.description.zh, i3);
  if (f.area.polygon) xml += el('polygon', capPolygon(f.area.polygon as [number, number][]), i3);
  if (f.area.circle) xml += el('circle', capCircle(f.area.circle), i3);
  xml += el('geocode', input.divisionCode, i3);
  xml += `${i2}</area>\n`;
  xml += `${i1}</info>\n`;
  xml += '</alert>\n';
  return xml;
}
