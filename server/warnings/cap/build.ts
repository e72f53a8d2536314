import type { HazardType, IncidentMode } from '../../../shared/labels.js';
import type { CapMsgType, WarningFields } from '../../../shared/warnings.js';
import { CAP_SENDER, COLOUR_TO_CAP, HAZARD_TO_CAP_CATEGORY, capCircle, capPolygon, isCapIdentifier, markExercise } from './rules.js';

export interface CapInput {
  identifier: string;
  sent: string;
  mode: IncidentMode;
  msgType: CapMsgType;
  hazard: HazardType;
  fields: WarningFields;
  /** "sender,identifier,sent" of the alert this one updates or cancels. */
  references?: string | null;
  incidentId: string;
  /** CAP <expires>, with an explicit offset like `sent`. */
  expires: string;
  /** Where the public reads the alert (CAP <web>); omitted for exercises, which are never public. */
  web?: string | null;
  /** The issuing bureau's duty line (CAP <contact>). */
  contact: string;
}

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

function el(name: string, value: string | number | undefined | null, indent: string): string {
  if (value === undefined || value === null) return '';
  return `${indent}<${name}>${escapeXml(String(value))}</${name}>\n`;
}

/** Builds a CAP 1.2 alert: one <info> per language (zh-CN, then en-US). */
export function buildCapAlert(input: CapInput): string {
  if (!isCapIdentifier(input.identifier)) throw new Error(`invalid CAP identifier ${input.identifier}`);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/.test(input.sent)) throw new Error(`CAP sent needs an explicit offset: ${input.sent}`);
  const f = input.fields;
  const exercise = input.mode === 'exercise';
  const cap = COLOUR_TO_CAP[f.colour];
  const isPublic = f.audience.public === true;
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n';
  const i1 = '  ';
  xml += el('identifier', input.identifier, i1);
  xml += el('sender', CAP_SENDER, i1);
  xml += el('sent', input.sent, i1);
  xml += el('status', exercise ? 'Exercise' : 'Actual', i1);
  xml += el('msgType', input.msgType, i1);
  xml += el('source', 'Yingji 应急指挥', i1);
  xml += el('scope', isPublic ? 'Public' : 'Restricted', i1);
  if (!isPublic) xml += el('restriction', `${f.audience.description.en} / ${f.audience.description.zh}`, i1);
  if (exercise) xml += el('note', '演练 EXERCISE — not a real emergency', i1);
  if (input.msgType !== 'Alert') {
    if (!input.references) throw new Error(`${input.msgType} needs references`);
    xml += el('references', input.references, i1);
  }
  xml += el('incidents', input.incidentId, i1);
  for (const lang of ['zh', 'en'] as const) {
    const i2 = '    ';
    xml += `${i1}<info>\n`;
    xml += el('language', lang === 'zh' ? 'zh-CN' : 'en-US', i2);
    xml += el('category', HAZARD_TO_CAP_CATEGORY[input.hazard], i2);
    xml += el('event', f.headline[lang], i2);
    xml += el('urgency', input.msgType === 'Cancel' ? 'Past' : cap.urgency, i2);
    xml += el('severity', cap.severity, i2);
    xml += el('certainty', cap.certainty, i2);
    xml += el('audience', f.audience.description[lang], i2);
    xml += el('expires', input.expires, i2);
    xml += el('senderName', lang === 'zh' ? '沈阳市铁西区应急管理局' : 'Tiexi District Emergency Management Bureau, Shenyang', i2);
    xml += el('headline', markExercise(f.headline[lang], lang, exercise), i2);
    xml += el('description', markExercise(f.text[lang], lang, exercise), i2);
    if (f.instruction) xml += el('instruction', f.instruction[lang], i2);
    xml += el('web', input.web, i2);
    xml += el('contact', input.contact, i2);
    xml += `${i2}<area>\n`;
    const i3 = '      ';
    xml += el('areaDesc', f.area.description[lang], i3);
    if (f.area.polygon) xml += el('polygon', capPolygon(f.area.polygon as [number, number][]), i3);
    if (f.area.circle) xml += el('circle', capCircle(f.area.circle), i3);
    xml += `${i2}</area>\n`;
    xml += `${i1}</info>\n`;
  }
  xml += '</alert>\n';
  return xml;
}
