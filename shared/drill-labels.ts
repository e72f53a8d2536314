/** Drill labels the client needs without the zod schemas (kept out of the client bundle). */
export const INJECT_FORMS = ['room-message', 'field-report', 'sensor', 'public-call', 'phone-message'] as const;
export type InjectForm = (typeof INJECT_FORMS)[number];

export const INJECT_FORM_LABELS: Record<InjectForm, { zh: string; en: string }> = {
  'room-message': { zh: '指挥部消息', en: 'Room message' },
  'field-report': { zh: '现场情况', en: 'Field report' },
  sensor: { zh: '监测报警', en: 'Sensor alarm' },
  'public-call': { zh: '12345/110转警', en: '12345/110 transfer' },
  'phone-message': { zh: '短信通知', en: 'Phone message' },
};

