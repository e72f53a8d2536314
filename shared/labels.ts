/** A text in the two languages the product speaks: Chinese first, English beside. */
export interface Bilingual {
  zh: string;
  en: string;
}

export const RESPONSE_LEVELS = ['I', 'II', 'III', 'IV'] as const;
export type ResponseLevel = (typeof RESPONSE_LEVELS)[number];

/** Ⅰ is the most severe. Higher number here = more severe. */
export function levelSeverity(level: ResponseLevel): number {
  return 4 - RESPONSE_LEVELS.indexOf(level);
}

export const RESPONSE_LEVEL_LABELS: Record<ResponseLevel, Bilingual> = {
  I: { zh: 'Ⅰ级响应（特别重大）', en: 'Level I (especially major)' },
  II: { zh: 'Ⅱ级响应（重大）', en: 'Level II (major)' },
  III: { zh: 'Ⅲ级响应（较大）', en: 'Level III (larger)' },
  IV: { zh: 'Ⅳ级响应（一般）', en: 'Level IV (general)' },
};

export const PLAN_TIERS = ['overall', 'special', 'department', 'grassroots'] as const;
export type PlanTier = (typeof PLAN_TIERS)[number];
export const PLAN_TIER_LABELS: Record<PlanTier, Bilingual> = {
  overall: { zh: '总体应急预案', en: 'Overall plan' },
  special: { zh: '专项应急预案', en: 'Hazard-specific plan' },
  department: { zh: '部门应急预案', en: 'Departmental plan' },
  grassroots: { zh: '基层单位应急预案', en: 'Grass-roots unit plan' },
};

export const HAZARD_TYPES = [
  'waterlogging',
  'flood',
  'hazchem',
  'hazchem-transport',
  'fire',
  'forest-fire',
  'snow-ice',
  'gas-explosion',
  'earthquake',
  'power-outage',
  'crowd',
] as const;
export type HazardType = (typeof HAZARD_TYPES)[number];
export const HAZARD_LABELS: Record<HazardType, Bilingual> = {
  waterlogging: { zh: '城市内涝', en: 'Urban waterlogging' },
  flood: { zh: '洪涝灾害', en: 'Flood' },
  hazchem: { zh: '危险化学品事故', en: 'Hazardous-chemical accident' },
  'hazchem-transport': { zh: '危化品道路运输事故', en: 'Hazchem road-transport accident' },
  fire: { zh: '火灾事故', en: 'Fire' },
  'forest-fire': { zh: '森林火灾', en: 'Forest fire' },
  'snow-ice': { zh: '暴雪冰冻', en: 'Heavy snow and ice' },
  'gas-explosion': { zh: '燃气爆炸事故', en: 'Gas explosion' },
  earthquake: { zh: '地震地质灾害', en: 'Earthquake / geological disaster' },
  'power-outage': { zh: '大面积停电', en: 'Large-area power outage' },
  crowd: { zh: '大客流拥挤踩踏', en: 'Crowd crush' },
};

/** The incident life cycle (全过程管理), in the order a response runs through it. */
export const PHASES = [
  'assessment',
  'evacuation',
  'protection',
  'rescue',
  'relief',
  'information',
  'loss-assessment',
  'recovery',
] as const;
export type Phase = (typeof PHASES)[number];
export const PHASE_LABELS: Record<Phase, Bilingual> = {
  assessment: { zh: '研判预警', en: 'Assessment and warning' },
  evacuation: { zh: '人员转移', en: 'Evacuation' },
  protection: { zh: '重要目标防护', en: 'Protection of key sites' },
  rescue: { zh: '抢险救援', en: 'Rescue' },
  relief: { zh: '灾害救助', en: 'Relief' },
  information: { zh: '信息发布', en: 'Public information' },
  'loss-assessment': { zh: '损失评估', en: 'Loss assessment' },
  recovery: { zh: '恢复重建', en: 'Recovery' },
};

/** Warning colours (预警级别): red is 一级, the highest. */
export const WARNING_COLOURS = ['blue', 'yellow', 'orange', 'red'] as const;
export type WarningColour = (typeof WARNING_COLOURS)[number];
export const WARNING_COLOUR_LABELS: Record<WarningColour, Bilingual> = {
  blue: { zh: '蓝色预警（四级）', en: 'Blue (level 4)' },
  yellow: { zh: '黄色预警（三级）', en: 'Yellow (level 3)' },
  orange: { zh: '橙色预警（二级）', en: 'Orange (level 2)' },
  red: { zh: '红色预警（一级）', en: 'Red (level 1)' },
};

export const WARNING_CHANNELS = ['sms', 'push', 'broadcast'] as const;
export type WarningChannel = (typeof WARNING_CHANNELS)[number];
export const WARNING_CHANNEL_LABELS: Record<WarningChannel, Bilingual> = {
  sms: { zh: '短信', en: 'SMS' },
  push: { zh: '网页推送', en: 'Web Push' },
  broadcast: { zh: '应急广播/显示屏', en: 'Emergency broadcast / screens' },
};

export const INCIDENT_MODES = ['actual', 'exercise'] as const;
export type IncidentMode = (typeof INCIDENT_MODES)[number];
export const INCIDENT_MODE_LABELS: Record<IncidentMode, Bilingual> = {
  actual: { zh: '实战', en: 'Actual' },
  exercise: { zh: '演练', en: 'Exercise' },
};

/** Checklist item statuses as people read them (the codes are shared/checklist.ts ITEM_STATUSES). */
export const ITEM_STATUS_LABELS: Record<'todo' | 'doing' | 'done' | 'skipped', Bilingual> = {
  todo: { zh: '待办', en: 'To do' },
  doing: { zh: '进行中', en: 'Doing' },
  done: { zh: '已完成', en: 'Done' },
  skipped: { zh: '不适用', en: 'Skipped' },
};
