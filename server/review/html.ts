/**
 * The printable after-action review: one self-contained HTML page (zh-CN, or English), tables and
 * inline SVG charts, print CSS for A4. No script, no external request (no src/href to anything):
 * every user text goes through `esc`.
 */
import type { Review, ReviewDispatch, ReviewWarning } from '../../shared/review.js';
import type { DrillReviewSection } from '../../shared/drill-review.js';
import { INCIDENT_MODE_LABELS, ITEM_STATUS_LABELS, RESPONSE_LEVEL_LABELS, WARNING_CHANNEL_LABELS, WARNING_COLOUR_LABELS, type Bilingual } from '../../shared/labels.js';

export type Lang = 'zh' | 'en';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]!);
}

export const T = {
  zh: {
    title: '突发事件应急处置总结评估', exerciseTitle: '演练评估报告', live: '（处置中，实时数据）', summary: '基本情况', plan: '预案', mode: '类型', level: '响应级别',
    activated: '启动时间', closed: '终止时间', duration: '持续时长（分钟）', levels: '响应级别变化', from: '起', to: '止', minutes: '分钟', participants: '参与人员',
    events: '事件条数', checklist: '任务清单执行情况', item: '事项', unit: '责任单位', due: '要求时间', status: '状态', doneAt: '完成时间', late: '延误（分钟）', by: '完成人',
    byUnit: '按责任单位统计', items: '事项数', onTime: '按时', lateN: '延误', skipped: '跳过', open: '未完成', onTimePct: '按时率 %', dispatches: '队伍调派',
    team: '队伍', dispatched: '调派', ack: '接令', enRoute: '出发', onScene: '到场', released: '撤离', returned: '归队', teamsRequired: '队伍需求', specialty: '专业',
    needed: '需要', sent: '已派', firstOnScene: '首支到场', materials: '物资保障', required: '需求', allocated: '调拨', issued: '出库', delivered: '送达', fully: '足额送达',
    warnings: '预警发布', colour: '预警级别', drafted: '拟稿', approved: '签发', firstDelivery: '首条送达', p95: '95% 送达', coverage: '覆盖率 %', channel: '渠道',
    toFirstWarning: '启动至首条预警签发（分钟）', acks: '叫应', recipient: '接收人', via: '方式', ackSeconds: '签发后（秒）', reports: '现场情况报告', count: '份数', time: '时间',
    text: '内容', drill: '演练', injects: '情景注入', released2: '已注入', expected: '预期行动', met: '达成', lateS: '迟于要求', missed: '未达成', pending: '待定',
    observations: '评估观察', rating: '评分', improvements: '整改事项', problem: '问题', dueDate: '期限', evidence: '整改证明', chain: '事件链校验',
    chainOk: '事件日志完整：哈希链校验通过', chainBroken: '事件日志已被篡改：哈希链在第 {n} 条断开', head: '链头哈希', person: '人员', gantt: '任务清单甘特图（要求时间 ◆ 与完成时间 ■，按责任单位）',
    timeline: '队伍调派时间线', curve: '预警覆盖曲线', none: '无', computed: '生成时间', closeSummary: '终止说明',
  },
  en: {
    title: 'Incident response after-action review', exerciseTitle: 'Exercise evaluation report', live: ' (incident open: live figures)', summary: 'Summary', plan: 'Plan', mode: 'Mode',
    level: 'Response level', activated: 'Activated', closed: 'Closed', duration: 'Duration (min)', levels: 'Response levels over time', from: 'From', to: 'To', minutes: 'Minutes',
    participants: 'Participants', events: 'Log entries', checklist: 'Checklist: plan versus actual', item: 'Item', unit: 'Responsible unit', due: 'Due', status: 'Status',
    doneAt: 'Done at', late: 'Minutes late', by: 'By', byUnit: 'By responsible unit', items: 'Items', onTime: 'On time', lateN: 'Late', skipped: 'Skipped', open: 'Open',
    onTimePct: 'On time %', dispatches: 'Team dispatches', team: 'Team', dispatched: 'Dispatched', ack: 'Acknowledged', enRoute: 'En route', onScene: 'On scene',
    released: 'Released', returned: 'Returned', teamsRequired: 'Teams required', specialty: 'Specialty', needed: 'Needed', sent: 'Sent', firstOnScene: 'First on scene',
    materials: 'Materials', required: 'Required', allocated: 'Allocated', issued: 'Issued', delivered: 'Delivered', fully: 'Fully delivered', warnings: 'Warnings',
    colour: 'Colour', drafted: 'Drafted', approved: 'Approved', firstDelivery: 'First delivery', p95: '95 % delivered', coverage: 'Coverage %', channel: 'Channel',
    toFirstWarning: 'Activation to first approved warning (min)', acks: 'Acknowledgements', recipient: 'Recipient', via: 'Via', ackSeconds: 'After approval (s)',
    reports: 'Situation reports', count: 'Count', time: 'Time', text: 'Text', drill: 'Drill', injects: 'Injects', released2: 'Released', expected: 'Expected actions',
    met: 'Met', lateS: 'Late', missed: 'Missed', pending: 'Pending', observations: 'Evaluator observations', rating: 'Rating', improvements: 'Improvement items',
    problem: 'Problem', dueDate: 'Due date', evidence: 'Evidence', chain: 'Event-log verification', chainOk: 'The event log is intact: every hash link verifies',
    chainBroken: 'The event log was tampered with: the hash chain breaks at entry {n}', head: 'Head hash',
    person: 'Person', gantt: 'Checklist Gantt (due ◆ and done ■, by unit)', timeline: 'Team dispatch timeline', curve: 'Warning coverage curve', none: 'none', computed: 'Computed',
    closeSummary: 'Closing summary',
  },
} as const;

type Labels = { [K in keyof (typeof T)['zh']]: string };

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Local time of the incident's zone, `YYYY-MM-DD HH:MM:SS` (one formatter per zone: creating one costs more than formatting). */
export function fmtTime(iso: string | null | undefined, timeZone = 'Asia/Shanghai'): string {
  if (!iso) return '—';
  const d = new Date(iso);
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    formatters.set(timeZone, f);
  }
  const parts = f.formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}
const num = (n: number | null | undefined) => (n === null || n === undefined ? '—' : String(n));
const bi = (b: Bilingual | null | undefined, lang: Lang, fallback = '') => (b ? b[lang] || b.zh : fallback);

function table(head: string[], rows: unknown[][]): string {
  if (rows.length === 0) return '';
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** Gantt: one row per item, grouped by unit; due as a diamond, done as a bar from activation. */
function ganttSvg(review: Review, lang: Lang): string {
  const items = [...review.checklist.items].sort((a, b) => (a.unit === b.unit ? (a.dueAt ?? '').localeCompare(b.dueAt ?? '') : a.unit.localeCompare(b.unit)));
  if (items.length === 0) return '';
  const start = Date.parse(review.summary.activatedAt);
  const times = items.flatMap((i) => [i.dueAt, i.doneAt]).filter((x): x is string => !!x).map(Date.parse);
  const endT = Math.max(start + 60_000, ...times, Date.parse(review.summary.closedAt ?? review.computedAt));
  const rowH = 14;
  const left = 230;
  const width = 720;
  const plotW = width - left - 10;
  const x = (t: number) => left + ((t - start) / (endT - start)) * plotW;
  const h = items.length * rowH + 30;
  const rows = items.map((it, i) => {
    const y = 20 + i * rowH;
    const label = `${bi(it.unitName, lang, it.unit)} · ${lang === 'en' && it.textEn ? it.textEn : it.text}`;
    const short = label.length > 30 ? `${label.slice(0, 29)}…` : label;
    const due = it.dueAt ? Date.parse(it.dueAt) : null;
    const done = it.doneAt ? Date.parse(it.doneAt) : null;
    const late = it.minutesLate !== null && it.minutesLate > 0;
    return [
      `<text x="4" y="${y + 10}" font-size="9">${esc(short)}</text>`,
      done !== null ? `<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(done) - left).toFixed(1)}" height="8" fill="${late ? '#c62828' : '#2e7d32'}"><title>${esc(fmtTime(it.doneAt))}</title></rect>` : '',
      due !== null ? `<path d="M${x(due).toFixed(1)} ${y + 2} l4 5 l-4 5 l-4 -5z" fill="#1565c0"><title>${esc(fmtTime(it.dueAt))}</title></path>` : '',
    ].join('');
  });
  return `<figure><svg viewBox="0 0 ${width} ${h}" width="100%" role="img" aria-label="${esc(T[lang].gantt)}">
<line x1="${left}" y1="14" x2="${left}" y2="${h - 8}" stroke="#999"/>${rows.join('')}
<text x="${left}" y="${h - 2}" font-size="9">${esc(fmtTime(review.summary.activatedAt).slice(11))}</text><text x="${width - 10}" y="${h - 2}" font-size="9" text-anchor="end">${esc(fmtTime(new Date(endT).toISOString()).slice(11))}</text></svg>
<figcaption>${esc(T[lang].gantt)}</figcaption></figure>`;
}

function timelineSvg(dispatches: ReviewDispatch[], review: Review, lang: Lang): string {
  if (dispatches.length === 0) return '';
  const start = Date.parse(review.summary.activatedAt);
  const stamps = dispatches.flatMap((d) => [d.dispatchedAt, d.acknowledgedAt, d.enRouteAt, d.onSceneAt, d.releasedAt, d.returnedAt, d.cancelledAt]).filter((x): x is string => !!x).map(Date.parse);
  const endT = Math.max(start + 60_000, ...stamps);
  const left = 160;
  const width = 720;
  const rowH = 18;
  const x = (t: number) => left + ((t - start) / (endT - start)) * (width - left - 10);
  const colours = ['#90a4ae', '#ffb300', '#fb8c00', '#2e7d32', '#5e35b1', '#546e7a'];
  const rows = dispatches.map((d, i) => {
    const y = 10 + i * rowH;
    const steps = [d.dispatchedAt, d.acknowledgedAt, d.enRouteAt, d.onSceneAt, d.releasedAt, d.returnedAt];
    const segs: string[] = [];
    for (let s = 0; s < steps.length; s++) {
      const from = steps[s];
      if (!from) continue;
      const next = steps.slice(s + 1).find((v) => !!v) ?? d.cancelledAt ?? (s < 5 ? (review.summary.closedAt ?? review.computedAt) : null);
      if (!next) continue;
      segs.push(`<rect x="${x(Date.parse(from)).toFixed(1)}" y="${y}" width="${Math.max(1, x(Date.parse(next)) - x(Date.parse(from))).toFixed(1)}" height="12" fill="${colours[s]}"/>`);
    }
    return `<text x="4" y="${y + 10}" font-size="10">${esc(bi(d.teamName, lang, d.teamId))}</text>${segs.join('')}`;
  });
  const legend = [T[lang].dispatched, T[lang].ack, T[lang].enRoute, T[lang].onScene, T[lang].released]
    .map((l, i) => `<rect x="${left + i * 100}" y="${10 + dispatches.length * rowH}" width="10" height="10" fill="${colours[i]}"/><text x="${left + i * 100 + 14}" y="${19 + dispatches.length * rowH}" font-size="9">${esc(l)}</text>`)
    .join('');
  return `<figure><svg viewBox="0 0 ${width} ${dispatches.length * rowH + 30}" width="100%" role="img" aria-label="${esc(T[lang].timeline)}">${rows.join('')}${legend}</svg><figcaption>${esc(T[lang].timeline)}</figcaption></figure>`;
}

function curveSvg(w: ReviewWarning, lang: Lang): string {
  if (w.curve.length < 2) return '';
  const maxS = Math.max(1, ...w.curve.map((p) => p.seconds));
  const width = 360;
  const height = 140;
  const x = (s: number) => 30 + (s / maxS) * (width - 40);
  const y = (p: number) => height - 20 - (p / 100) * (height - 30);
  const path = w.curve.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.seconds).toFixed(1)} ${y(p.percent).toFixed(1)}`).join(' ');
  return `<figure class="curve"><svg viewBox="0 0 ${width} ${height}" width="50%" role="img" aria-label="${esc(T[lang].curve)}">
<line x1="30" y1="${y(0)}" x2="${width - 10}" y2="${y(0)}" stroke="#999"/><line x1="30" y1="${y(0)}" x2="30" y2="${y(100)}" stroke="#999"/>
<text x="26" y="${y(100) + 4}" font-size="9" text-anchor="end">100%</text><text x="${width - 10}" y="${height - 6}" font-size="9" text-anchor="end">${esc(maxS)} s</text>
<path d="${path}" fill="none" stroke="#c62828" stroke-width="2"/></svg><figcaption>${esc(T[lang].curve)} · ${esc(bi(w.headline, lang, w.id))}</figcaption></figure>`;
}

export function drillSectionHtml(drill: DrillReviewSection, L: Labels, lang: Lang): string {
  return `<section><h2>${esc(L.drill)}: ${esc(drill.scenarioTitle[lang] || drill.scenarioTitle.zh)}</h2>
<p>${esc(drill.kind)} · ${esc(fmtTime(drill.startedAt))} – ${esc(fmtTime(drill.endedAt))}</p>
<h3>${esc(L.injects)}</h3>${table([L.item, 'form', L.status, L.time], drill.injects.map((i) => [i.id, i.form, i.status === 'released' ? L.released2 : L.pending, fmtTime(i.releasedAt)]))}
<h3>${esc(L.expected)}</h3>${table([L.item, L.status, 'withinSeconds', 'metAt', 's'], drill.expectedActions.map((a) => [a.action, ({ met: L.met, late: L.lateS, missed: L.missed, pending: L.pending } as const)[a.status], a.withinSeconds, fmtTime(a.metAt), num(a.secondsAfterInject)]))}
<h3>${esc(L.observations)}</h3>${table([L.time, L.text, L.rating, L.by], drill.observations.map((o) => [fmtTime(o.at), o.text, num(o.rating), o.by]))}</section>`;
}

const CSS = `@page{size:A4;margin:18mm 15mm}body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;font-size:11pt;color:#111;max-width:190mm;margin:0 auto;padding:8px}
h1{font-size:18pt;text-align:center}h2{font-size:14pt;border-bottom:1px solid #444;margin-top:1.2em}h3{font-size:12pt}table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:9pt}
th,td{border:1px solid #888;padding:2px 4px;text-align:left;vertical-align:top;word-break:break-word}th{background:#eee}figure{margin:.5em 0;break-inside:avoid}figcaption{font-size:9pt;color:#333}
.ok{color:#1b5e20;font-weight:bold}.broken{color:#b71c1c;font-weight:bold}.hash{font-family:monospace;font-size:8pt;word-break:break-all}
@media print{h2{break-after:avoid}tr{break-inside:avoid}section{break-inside:auto}}`;

export function renderReviewHtml(review: Review, lang: Lang = 'zh', timeZone = 'Asia/Shanghai'): string {
  const L: Labels = T[lang];
  const t = (iso: string | null | undefined) => fmtTime(iso, timeZone);
  const s = review.summary;
  const heading = s.mode === 'exercise' ? L.exerciseTitle : L.title;
  const statusLabel = (st: keyof typeof ITEM_STATUS_LABELS) => ITEM_STATUS_LABELS[st][lang];
  const parts: string[] = [];
  parts.push(`<h1>${esc(heading)}</h1><p style="text-align:center">${esc(s.title)}${review.final ? '' : esc(L.live)}</p>`);
  parts.push(`<section><h2>${esc(L.summary)}</h2>${table(
    [L.plan, L.mode, L.level, L.activated, L.closed, L.duration, L.events],
    [[`${bi(s.planTitle, lang)} (${s.planVersion.split('#')[0]})`, INCIDENT_MODE_LABELS[s.mode][lang], RESPONSE_LEVEL_LABELS[s.level][lang], t(s.activatedAt), t(s.closedAt), s.minutes, s.events]],
  )}${s.closeSummary ? `<p>${esc(L.closeSummary)}: ${esc(s.closeSummary)}</p>` : ''}
<h3>${esc(L.levels)}</h3>${table([L.level, L.from, L.to, L.minutes], s.levels.map((l) => [RESPONSE_LEVEL_LABELS[l.level][lang], t(l.from), t(l.to), l.minutes]))}
<h3>${esc(L.participants)}</h3>${table([L.person, L.events], s.participants.map((p) => [p.displayName ? `${p.displayName} (${p.name})` : p.name, p.events]))}</section>`);
  parts.push(`<section><h2>${esc(L.checklist)}</h2>${ganttSvg(review, lang)}
<h3>${esc(L.byUnit)}</h3>${table([L.unit, L.items, L.onTime, L.lateN, L.skipped, L.open, L.onTimePct], review.checklist.byUnit.map((u) => [bi(u.unitName, lang, u.unit), u.items, u.onTime, u.late, u.skipped, u.open, u.onTimePercent]))}
${table([L.item, L.unit, L.due, L.status, L.doneAt, L.late, L.by], review.checklist.items.map((i) => [lang === 'en' && i.textEn ? i.textEn : i.text, bi(i.unitName, lang, i.unit), t(i.dueAt), statusLabel(i.status), t(i.doneAt), num(i.minutesLate), i.by?.name ?? '—']))}</section>`);
  parts.push(`<section><h2>${esc(L.dispatches)}</h2>${timelineSvg(review.dispatches, review, lang)}
${table([L.team, L.dispatched, L.ack, L.enRoute, L.onScene, L.released, L.returned], review.dispatches.map((d) => [bi(d.teamName, lang, d.teamId), t(d.dispatchedAt), t(d.acknowledgedAt), t(d.enRouteAt), t(d.onSceneAt), t(d.releasedAt), t(d.returnedAt)]))}
<h3>${esc(L.teamsRequired)}</h3>${table([L.specialty, L.needed, L.sent, L.firstOnScene, L.minutes], review.teams.required.map((r) => [bi(r.specialtyName, lang, r.specialty), r.needed, r.sent, t(r.firstOnSceneAt), num(r.minutesToFirstOnScene)]))}</section>`);
  parts.push(`<section><h2>${esc(L.materials)}</h2>${table([L.item, L.required, L.allocated, L.issued, L.delivered, L.fully, L.minutes], review.materials.map((m) => [`${bi(m.itemName, lang, m.item)} (${m.unit})`, num(m.required), m.allocated, m.issued, m.delivered, t(m.fullyDeliveredAt), num(m.minutesToFullyDelivered)]))}</section>`);
  parts.push(`<section><h2>${esc(L.warnings)}</h2><p>${esc(L.toFirstWarning)}: ${esc(num(review.minutesToFirstWarning))}</p>
${table([L.item, L.colour, L.drafted, L.approved, L.firstDelivery, L.p95, L.coverage], review.warnings.map((w) => [bi(w.headline, lang, w.id), w.colour ? WARNING_COLOUR_LABELS[w.colour][lang] : '—', t(w.draftedAt), t(w.approvedAt), t(w.firstDeliveryAt), t(w.p95DeliveredAt), num(w.coveragePercent)]))}
${review.warnings.map((w) => `${table([L.channel, 'total', L.delivered, 'failed', L.coverage], w.channels.map((c) => [WARNING_CHANNEL_LABELS[c.channel]?.[lang] ?? c.channel, c.total, c.delivered, c.failed, c.coveragePercent]))}${curveSvg(w, lang)}${w.acks.length ? `<h3>${esc(L.acks)}</h3>${table([L.recipient, L.via, L.time, L.ackSeconds], w.acks.map((a) => [a.name ?? a.recipientId, a.via ?? '—', t(a.at), num(a.secondsToAck)]))}` : ''}`).join('')}</section>`);
  parts.push(`<section><h2>${esc(L.reports)}</h2><p>${esc(L.count)}: ${review.reports.count}</p>${table([L.time, L.team, L.by, L.text], review.reports.items.map((r) => [t(r.at), bi(r.teamName, lang, r.teamId ?? ''), r.by ?? '—', r.text]))}</section>`);
  if (review.drill) parts.push(drillSectionHtml(review.drill, L, lang));
  parts.push(`<section><h2>${esc(L.improvements)}</h2>${review.improvements.length ? table([L.problem, L.unit, L.item, L.dueDate, L.status, L.evidence], review.improvements.map((i) => [i.problem, i.unit, i.planItemId ?? '—', i.dueDate, i.status, i.evidence ?? '—'])) : `<p>${esc(L.none)}</p>`}</section>`);
  const c = review.chain;
  parts.push(`<section><h2>${esc(L.chain)}</h2><p class="${c.ok ? 'ok' : 'broken'}">${esc(c.ok ? L.chainOk : L.chainBroken.replace('{n}', String(c.brokenAt)))}</p><p>${esc(L.head)}: <span class="hash">${esc(c.headHash)}</span> · ${esc(L.events)} ${c.checked}/${c.lastSeq} · ${esc(L.computed)} ${esc(t(review.computedAt))}</p></section>`);
  return `<!doctype html><html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><title>${esc(heading)} · ${esc(s.title)}</title><style>${CSS}</style></head><body>${parts.join('\n')}</body></html>`;
}
