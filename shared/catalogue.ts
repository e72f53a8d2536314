import type { Bilingual } from './labels.js';

/** Team specialties (专业). Plans ask for teams by these codes; teams declare them. */
export const SPECIALTIES = {
  'flood-rescue': { zh: '防汛抢险', en: 'Flood fighting' },
  drainage: { zh: '排涝', en: 'Drainage and pumping' },
  'water-rescue': { zh: '水域救援', en: 'Water rescue' },
  hazchem: { zh: '危化救援', en: 'Hazardous-chemical rescue' },
  'high-rise-fire': { zh: '高层建筑灭火', en: 'High-rise firefighting' },
  firefighting: { zh: '灭火救援', en: 'Firefighting and rescue' },
  'forest-fire': { zh: '森林灭火', en: 'Forest firefighting' },
  power: { zh: '电力抢险', en: 'Power repair' },
  comms: { zh: '通信保障', en: 'Communications support' },
  collapse: { zh: '建筑坍塌', en: 'Structural collapse rescue' },
  medical: { zh: '医疗救护', en: 'Medical rescue' },
  gas: { zh: '燃气抢险', en: 'Gas network repair' },
  'pipeline': { zh: '油气管道抢险', en: 'Oil and gas pipeline repair' },
  'road-clearance': { zh: '公路抢通', en: 'Road clearance' },
  'snow-clearing': { zh: '扫雪除冰', en: 'Snow and ice clearing' },
  'municipal': { zh: '城市管网抢修', en: 'Municipal utility repair' },
  'evacuation': { zh: '疏散安置', en: 'Evacuation and resettlement' },
  'traffic-control': { zh: '交通管制', en: 'Traffic control' },
  'environmental-monitoring': { zh: '环境监测', en: 'Environmental monitoring' },
  'volunteer': { zh: '志愿服务', en: 'Volunteer support' },
  'search-rescue': { zh: '搜索救援', en: 'Search and rescue' },
} as const satisfies Record<string, Bilingual>;
export type Specialty = keyof typeof SPECIALTIES;
export const SPECIALTY_CODES = Object.keys(SPECIALTIES) as [Specialty, ...Specialty[]];

/** Team kinds (队伍类型). */
export const TEAM_KINDS = {
  'fire-rescue': { zh: '综合性消防救援', en: 'Comprehensive fire and rescue' },
  professional: { zh: '专业', en: 'Specialised' },
  street: { zh: '街道', en: 'Street (sub-district)' },
  social: { zh: '社会志愿', en: 'Social / volunteer' },
  'military-civil': { zh: '军地联合', en: 'Military–civil joint' },
  enterprise: { zh: '企业', en: 'Enterprise' },
} as const satisfies Record<string, Bilingual>;
export type TeamKind = keyof typeof TEAM_KINDS;
export const TEAM_KIND_CODES = Object.keys(TEAM_KINDS) as [TeamKind, ...TeamKind[]];

/** Material categories (物资类别). */
export const MATERIAL_CATEGORIES = {
  'flood-drought': { zh: '防汛抗旱', en: 'Flood and drought' },
  'forest-fire': { zh: '森林防灭火', en: 'Forest fire' },
  relocation: { zh: '转移安置', en: 'Relocation and resettlement' },
  necessities: { zh: '生活必需品', en: 'Daily necessities' },
  equipment: { zh: '救援装备', en: 'Rescue equipment' },
  hazchem: { zh: '危化品处置', en: 'Hazchem response' },
  'snow-ice': { zh: '扫雪铲冰', en: 'Snow and ice' },
  medical: { zh: '医疗防护', en: 'Medical and protective' },
} as const satisfies Record<string, Bilingual>;
export type MaterialCategory = keyof typeof MATERIAL_CATEGORIES;
export const MATERIAL_CATEGORY_CODES = Object.keys(MATERIAL_CATEGORIES) as [MaterialCategory, ...MaterialCategory[]];

export interface MaterialItem {
  name: Bilingual;
  category: MaterialCategory;
  unit: Bilingual;
  /** Countable items (pumps, tents) are allocated in whole units; bulk items (tonnes of salt) may be fractional. */
  countable: boolean;
}

/** The material items plans ask for and warehouses stock, by code. */
export const MATERIAL_ITEMS = {
  'sandbag': { name: { zh: '编织袋（防汛沙袋）', en: 'Sandbags' }, category: 'flood-drought', unit: { zh: '条', en: 'bags' }, countable: true },
  'pump-mobile': { name: { zh: '移动式排涝泵', en: 'Mobile drainage pump' }, category: 'flood-drought', unit: { zh: '台', en: 'units' }, countable: true },
  'pump-truck': { name: { zh: '大流量排涝车', en: 'High-volume drainage truck' }, category: 'flood-drought', unit: { zh: '辆', en: 'vehicles' }, countable: true },
  'generator': { name: { zh: '移动发电机组', en: 'Mobile generator set' }, category: 'equipment', unit: { zh: '台', en: 'units' }, countable: true },
  'life-jacket': { name: { zh: '救生衣', en: 'Life jacket' }, category: 'flood-drought', unit: { zh: '件', en: 'pieces' }, countable: true },
  'life-buoy': { name: { zh: '救生圈', en: 'Life buoy' }, category: 'flood-drought', unit: { zh: '个', en: 'pieces' }, countable: true },
  'rescue-boat': { name: { zh: '冲锋舟', en: 'Rescue boat' }, category: 'flood-drought', unit: { zh: '艘', en: 'boats' }, countable: true },
  'waterproof-tarp': { name: { zh: '防水篷布', en: 'Waterproof tarpaulin' }, category: 'flood-drought', unit: { zh: '块', en: 'sheets' }, countable: true },
  'warning-barrier': { name: { zh: '警戒隔离设施（水马/围挡）', en: 'Warning barriers' }, category: 'equipment', unit: { zh: '套', en: 'sets' }, countable: true },
  'lighting-tower': { name: { zh: '移动照明灯塔', en: 'Mobile lighting tower' }, category: 'equipment', unit: { zh: '台', en: 'units' }, countable: true },
  'tent': { name: { zh: '救灾帐篷', en: 'Relief tent' }, category: 'relocation', unit: { zh: '顶', en: 'tents' }, countable: true },
  'folding-bed': { name: { zh: '折叠床', en: 'Folding bed' }, category: 'relocation', unit: { zh: '张', en: 'beds' }, countable: true },
  'quilt': { name: { zh: '棉被', en: 'Quilt' }, category: 'relocation', unit: { zh: '床', en: 'quilts' }, countable: true },
  'cotton-coat': { name: { zh: '棉大衣', en: 'Padded coat' }, category: 'relocation', unit: { zh: '件', en: 'coats' }, countable: true },
  'drinking-water': { name: { zh: '瓶装饮用水', en: 'Bottled drinking water' }, category: 'necessities', unit: { zh: '箱', en: 'cases' }, countable: true },
  'instant-food': { name: { zh: '方便食品', en: 'Ready-to-eat food' }, category: 'necessities', unit: { zh: '箱', en: 'cases' }, countable: true },
  'hygiene-kit': { name: { zh: '个人卫生用品包', en: 'Hygiene kit' }, category: 'necessities', unit: { zh: '套', en: 'kits' }, countable: true },
  'fire-extinguisher': { name: { zh: '灭火器', en: 'Fire extinguisher' }, category: 'forest-fire', unit: { zh: '具', en: 'units' }, countable: true },
  'wind-extinguisher': { name: { zh: '风力灭火机', en: 'Wind-blower extinguisher' }, category: 'forest-fire', unit: { zh: '台', en: 'units' }, countable: true },
  'fire-rake': { name: { zh: '二号工具（扑火扫把）', en: 'Fire swatter' }, category: 'forest-fire', unit: { zh: '把', en: 'pieces' }, countable: true },
  'water-bag-extinguisher': { name: { zh: '背负式水枪', en: 'Backpack water pump' }, category: 'forest-fire', unit: { zh: '具', en: 'units' }, countable: true },
  'breathing-apparatus': { name: { zh: '正压式空气呼吸器', en: 'Self-contained breathing apparatus' }, category: 'hazchem', unit: { zh: '具', en: 'sets' }, countable: true },
  'chem-suit': { name: { zh: '重型防化服', en: 'Heavy chemical protective suit' }, category: 'hazchem', unit: { zh: '套', en: 'suits' }, countable: true },
  'gas-detector': { name: { zh: '便携式有毒有害气体检测仪', en: 'Portable toxic gas detector' }, category: 'hazchem', unit: { zh: '台', en: 'units' }, countable: true },
  'absorbent': { name: { zh: '吸附棉', en: 'Absorbent pads' }, category: 'hazchem', unit: { zh: '千克', en: 'kg' }, countable: false },
  'neutraliser': { name: { zh: '酸碱中和剂', en: 'Neutralising agent' }, category: 'hazchem', unit: { zh: '千克', en: 'kg' }, countable: false },
  'foam-concentrate': { name: { zh: '泡沫灭火剂', en: 'Foam concentrate' }, category: 'hazchem', unit: { zh: '吨', en: 'tonnes' }, countable: false },
  'plugging-kit': { name: { zh: '堵漏工具组', en: 'Leak-plugging kit' }, category: 'hazchem', unit: { zh: '套', en: 'kits' }, countable: true },
  'de-icing-salt': { name: { zh: '融雪剂', en: 'De-icing salt' }, category: 'snow-ice', unit: { zh: '吨', en: 'tonnes' }, countable: false },
  'snow-shovel': { name: { zh: '铁锹（除雪）', en: 'Snow shovel' }, category: 'snow-ice', unit: { zh: '把', en: 'pieces' }, countable: true },
  'snow-plough': { name: { zh: '推雪铲车', en: 'Snow plough' }, category: 'snow-ice', unit: { zh: '辆', en: 'vehicles' }, countable: true },
  'first-aid-kit': { name: { zh: '急救包', en: 'First-aid kit' }, category: 'medical', unit: { zh: '个', en: 'kits' }, countable: true },
  'stretcher': { name: { zh: '担架', en: 'Stretcher' }, category: 'medical', unit: { zh: '副', en: 'stretchers' }, countable: true },
  'protective-mask': { name: { zh: '防烟面罩', en: 'Smoke escape hood' }, category: 'medical', unit: { zh: '个', en: 'hoods' }, countable: true },
  'rescue-rope': { name: { zh: '救援绳索', en: 'Rescue rope' }, category: 'equipment', unit: { zh: '米', en: 'metres' }, countable: true },
  'hydraulic-tools': { name: { zh: '液压破拆工具组', en: 'Hydraulic rescue tools' }, category: 'equipment', unit: { zh: '套', en: 'sets' }, countable: true },
  'satellite-phone': { name: { zh: '卫星电话', en: 'Satellite phone' }, category: 'equipment', unit: { zh: '部', en: 'handsets' }, countable: true },
} as const satisfies Record<string, MaterialItem>;
export type MaterialItemCode = keyof typeof MATERIAL_ITEMS;
export const MATERIAL_ITEM_CODES = Object.keys(MATERIAL_ITEMS) as [MaterialItemCode, ...MaterialItemCode[]];
