import type { HazardType, WarningColour } from '../../../shared/labels.js';
import type { Queryable } from '../../db/database.js';

/**
 * GB/T 35965.1-2018 (应急信息交互协议 第1部分：预警信息) — the rules we implement, and where each
 * comes from. Appendix A of the standard (A.1.1–A.1.4, read in a public copy of its "取值规则及说明")
 * fixes the identifier, the issuing-unit code, the date-time formats and the status codes; the
 * element set follows CAP 1.2, on which the standard is modelled. Everything else is inferred and
 * said so in docs/API.md.
 */

/** 预警信息发布单位代码 ZZZZZZDDDUUUXX (A.1.2): division, institution, internal unit, extension. */
export interface GbtUnit {
  division: string;
  institution: string;
  unit: string;
  extension: string;
}

export function unitCode(u: GbtUnit): string {
  const code = `${u.division}${u.institution}${u.unit}${u.extension}`;
  if (!/^\d{14}$/.test(code)) throw new Error(`GB/T 35965.1 unit code must be 14 digits, got ${code}`);
  return code;
}

/** YYYYMMDDhhmmss in Beijing time (A.1.3.1, basic format). */
export function gbtBasicTime(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace(/[-:T]/g, '');
}

/** YYYY-MM-DDThh:mm:ss+08:00 (A.1.3.2, extended format; Beijing time is always +08:00). */
export function gbtExtendedTime(d: Date): string {
  return `${new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

export const GBT_IDENTIFIER = /^\d{14}_\d{14}_\d$/;

/**
 * Allocates the identifier ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N inside the caller's transaction: the
 * upsert locks the (unit, second) row until commit, so concurrent approvals — on any node — get
 * 0, 1, 2 …; an eleventh message in one second takes the next second (N is one digit).
 */
export async function allocateGbtIdentifier(tx: Queryable, unit: GbtUnit, at: Date): Promise<{ identifier: string; entryTime: Date }> {
  const code = unitCode(unit);
  for (let shift = 0; shift < 3600; shift++) {
    const t = new Date(Math.floor(at.getTime() / 1000) * 1000 + shift * 1000);
    const stamp = gbtBasicTime(t);
    const { rows } = await tx.query<{ last_n: number }>(
      `INSERT INTO gbt35965_sequences (unit_code, entry_time, last_n) VALUES ($1, $2, 0)
       ON CONFLICT (unit_code, entry_time) DO UPDATE SET last_n = gbt35965_sequences.last_n + 1
         WHERE gbt35965_sequences.last_n < 9
       RETURNING last_n`,
      [code, stamp],
    );
    const n = rows[0]?.last_n;
    if (n !== undefined) {
      const identifier = `${code}_${stamp}_${n}`;
      if (identifier.length !== 31 || !GBT_IDENTIFIER.test(identifier)) throw new Error(`bad GB/T 35965.1 identifier ${identifier}`);
      return { identifier, entryTime: t };
    }
  }
  throw new Error('no GB/T 35965.1 sequence number left within the hour');
}

/** 预警级别: the colour itself (红 Ⅰ级 … 蓝 Ⅳ级), as the national release system carries it. */
export const COLOUR_TO_GBT_SEVERITY: Record<WarningColour, 'Red' | 'Orange' | 'Yellow' | 'Blue'> = {
  red: 'Red',
  orange: 'Orange',
  yellow: 'Yellow',
  blue: 'Blue',
};

/**
 * 事件类型 per GB/T 35561-2017 (突发事件分类与编码): 1 + category (1 自然灾害, 2 事故灾难,
 * 3 公共卫生事件, 4 社会安全事件) + subcategory letter + two-digit type, "00" for the whole
 * subcategory. The subcategory letters follow the standard's order of subcategories; where we could
 * not confirm the two-digit type from a public source we use the subcategory ("…00").
 * Check against the standard text before production use (docs/API.md lists which are inferred).
 */
export const HAZARD_TO_GBT_EVENT: Record<HazardType, { code: string; zh: string; sure: boolean }> = {
  waterlogging: { code: '11B03', zh: '暴雨（城市内涝）', sure: false },
  flood: { code: '11A01', zh: '洪水', sure: false },
  'snow-ice': { code: '11B04', zh: '暴雪', sure: false },
  earthquake: { code: '11C00', zh: '地震灾害', sure: false },
  'forest-fire': { code: '11G00', zh: '森林草原火灾', sure: false },
  hazchem: { code: '12A00', zh: '工矿商贸等企业的各类安全事故（危险化学品）', sure: false },
  'hazchem-transport': { code: '12B00', zh: '交通运输事故', sure: false },
  fire: { code: '12C00', zh: '公共设施和设备事故（火灾）', sure: false },
  'gas-explosion': { code: '12C00', zh: '公共设施和设备事故（燃气）', sure: false },
  'power-outage': { code: '12C00', zh: '公共设施和设备事故（大面积停电）', sure: false },
  crowd: { code: '14A00', zh: '社会安全事件（拥挤踩踏）', sure: false },
};
