/**
 * The Word export of a review (`docx`): for exercises the 演练评估报告 with the headings of
 * AQ/T 9009 (演练基本情况, 演练执行情况, 目标达成情况, 存在问题, 改进建议); for actual incidents
 * the 突发事件应急处置总结评估; `hseep`: the English HSEEP After-Action Report / Improvement Plan.
 * Text is set as text runs (never markup), so user text needs no escaping here.
 */
import type { Paragraph, Table } from 'docx';
import type { Review } from '../../shared/review.js';
import { INCIDENT_MODE_LABELS, ITEM_STATUS_LABELS, RESPONSE_LEVEL_LABELS, WARNING_COLOUR_LABELS, type Bilingual } from '../../shared/labels.js';
import { fmtTime, T, type Lang } from './html.js';

export type DocxFormat = 'aqt9009' | 'hseep';

export const AQT9009_HEADINGS = ['演练基本情况', '演练执行情况', '目标达成情况', '存在问题', '改进建议'] as const;
export const ACTUAL_HEADINGS = ['事件基本情况', '应急处置情况', '处置评估', '存在问题', '改进措施'] as const;
export const HSEEP_HEADINGS = ['Executive Summary', 'Overview', 'Analysis of Capabilities', 'Areas for Improvement', 'Improvement Plan'] as const;
const NUMERALS = ['一', '二', '三', '四', '五'];

const bi = (b: Bilingual | null | undefined, lang: Lang, fallback = '') => (b ? b[lang] || b.zh : fallback);
const num = (n: number | null | undefined) => (n === null || n === undefined ? '—' : String(n));

/** What went wrong, computed from the review: late and open items, shortfalls, missed drill actions, a broken chain. */
export function findings(review: Review, lang: Lang): string[] {
  const out: string[] = [];
  const zh = lang === 'zh';
  for (const i of review.checklist.items) {
    const text = zh ? i.text : i.textEn || i.text;
    const unit = bi(i.unitName, lang, i.unit);
    if (i.minutesLate !== null && i.minutesLate > 0) out.push(zh ? `「${text}」（${unit}）晚于要求 ${i.minutesLate} 分钟完成` : `"${text}" (${unit}) was done ${i.minutesLate} min late`);
    else if (i.status === 'todo' || i.status === 'doing') out.push(zh ? `「${text}」（${unit}）未完成` : `"${text}" (${unit}) was not completed`);
  }
  for (const r of review.teams.required) {
    if (r.sent < r.needed) out.push(zh ? `${bi(r.specialtyName, lang, r.specialty)}队伍需要 ${r.needed} 支，实派 ${r.sent} 支` : `${bi(r.specialtyName, lang, r.specialty)}: ${r.needed} teams needed, ${r.sent} sent`);
  }
  for (const m of review.materials) {
    if (m.required !== null && m.delivered < m.required) out.push(zh ? `${bi(m.itemName, lang, m.item)}需求 ${m.required}${m.unit}，送达 ${m.delivered}${m.unit}` : `${bi(m.itemName, lang, m.item)}: ${m.required} ${m.unit} required, ${m.delivered} delivered`);
  }
  for (const a of review.drill?.expectedActions ?? []) {
    if (a.status === 'missed' || a.status === 'late') out.push(zh ? `预期行动「${a.action}」${a.status === 'missed' ? '未达成' : '迟于要求'}` : `Expected action "${a.action}" was ${a.status}`);
  }
  if (!review.chain.ok) out.push(zh ? `事件日志哈希链在第 ${review.chain.brokenAt} 条断开，本报告数据不可信` : `The event log's hash chain breaks at entry ${review.chain.brokenAt}: this report's figures cannot be trusted`);
  return out;
}

type Docx = typeof import('docx');
/**
 * `docx` is loaded with the first report, not at start: it is about 11 MiB of a node's idle memory
 * for a download a bureau asks for once per response.
 */
let docxLibrary: Promise<Docx> | null = null;
const loadDocx = () => (docxLibrary ??= import('docx'));

function builders({ HeadingLevel, Paragraph, Table, TableCell, TableRow, TextRun, WidthType }: Docx) {
  const cell = (text: string, header = false) => new TableCell({ children: [new Paragraph({ children: [new TextRun({ text, bold: header, size: 18 })] })] });
  return {
    table(head: string[], rows: unknown[][]): Table | Paragraph {
      if (rows.length === 0) return new Paragraph({ text: '—' });
      return new Table({
        width: { size: 100, type: WidthType.PERCENTAGE },
        rows: [new TableRow({ tableHeader: true, children: head.map((h) => cell(h, true)) }), ...rows.map((r) => new TableRow({ children: r.map((c) => cell(String(c ?? ''))) }))],
      });
    },
    h1: (text: string) => new Paragraph({ text, heading: HeadingLevel.HEADING_1 }),
    h2: (text: string) => new Paragraph({ text, heading: HeadingLevel.HEADING_2 }),
    p: (text: string) => new Paragraph({ children: [new TextRun(text)] }),
  };
}

export async function renderReviewDocx(review: Review, format: DocxFormat = 'aqt9009', timeZone = 'Asia/Shanghai'): Promise<Buffer> {
  const docx = await loadDocx();
  const { AlignmentType, Document, HeadingLevel, Packer, Paragraph, TextRun } = docx;
  const { table, h1, h2, p } = builders(docx);
  const lang: Lang = format === 'hseep' ? 'en' : 'zh';
  const L = T[lang];
  const t = (iso: string | null | undefined) => fmtTime(iso, timeZone);
  const s = review.summary;
  const exercise = s.mode === 'exercise';
  const headings: readonly string[] = format === 'hseep' ? HSEEP_HEADINGS : exercise ? AQT9009_HEADINGS : ACTUAL_HEADINGS;
  const heading = (i: number) => h1(format === 'hseep' ? headings[i]! : `${NUMERALS[i]}、${headings[i]}`);
  const title = format === 'hseep' ? `After-Action Report / Improvement Plan (AAR/IP)${exercise ? ' — Exercise' : ''}` : exercise ? '演练评估报告' : '突发事件应急处置总结评估';
  const problems = findings(review, lang);
  const children: (Paragraph | Table)[] = [
    new Paragraph({ alignment: AlignmentType.CENTER, heading: HeadingLevel.TITLE, children: [new TextRun({ text: title, bold: true })] }),
    new Paragraph({ alignment: AlignmentType.CENTER, children: [new TextRun(s.title)] }),
  ];
  // 1 · basic facts
  children.push(heading(0));
  if (format === 'hseep') {
    const onTime = review.checklist.items.filter((i) => i.status === 'done' && (i.minutesLate ?? 0) <= 0).length;
    children.push(p(`${s.title}: ${bi(s.planTitle, 'en')} activated at level ${s.level} (${INCIDENT_MODE_LABELS[s.mode].en}) on ${t(s.activatedAt)}; ${s.closedAt ? `closed ${t(s.closedAt)}` : 'still open'}, ${s.minutes} min. ${onTime} of ${review.checklist.items.length} checklist items done on time; ${review.dispatches.length} team dispatches; ${review.warnings.length} warnings; ${review.reports.count} situation reports.`));
  }
  children.push(table([L.plan, L.mode, L.level, L.activated, L.closed, L.duration, L.events], [[`${bi(s.planTitle, lang)} (${s.planVersion.split('#')[0]})`, INCIDENT_MODE_LABELS[s.mode][lang], RESPONSE_LEVEL_LABELS[s.level][lang], t(s.activatedAt), t(s.closedAt), s.minutes, s.events]]));
  children.push(h2(L.levels), table([L.level, L.from, L.to, L.minutes], s.levels.map((l) => [RESPONSE_LEVEL_LABELS[l.level][lang], t(l.from), t(l.to), l.minutes])));
  children.push(h2(L.participants), table([L.person, L.events], s.participants.map((x) => [x.displayName ? `${x.displayName} (${x.name})` : x.name, x.events])));
  if (s.closeSummary) children.push(p(`${L.closeSummary}: ${s.closeSummary}`));
  // 2 · what was done
  children.push(heading(1));
  children.push(h2(L.checklist), table([L.item, L.unit, L.due, L.status, L.doneAt, L.late, L.by], review.checklist.items.map((i) => [lang === 'en' && i.textEn ? i.textEn : i.text, bi(i.unitName, lang, i.unit), t(i.dueAt), ITEM_STATUS_LABELS[i.status][lang], t(i.doneAt), num(i.minutesLate), i.by?.name ?? '—'])));
  children.push(h2(L.dispatches), table([L.team, L.dispatched, L.ack, L.enRoute, L.onScene, L.released, L.returned], review.dispatches.map((d) => [bi(d.teamName, lang, d.teamId), t(d.dispatchedAt), t(d.acknowledgedAt), t(d.enRouteAt), t(d.onSceneAt), t(d.releasedAt), t(d.returnedAt)])));
  children.push(h2(L.materials), table([L.item, L.required, L.allocated, L.issued, L.delivered, L.fully], review.materials.map((m) => [`${bi(m.itemName, lang, m.item)} (${m.unit})`, num(m.required), m.allocated, m.issued, m.delivered, t(m.fullyDeliveredAt)])));
  children.push(h2(L.warnings), p(`${L.toFirstWarning}: ${num(review.minutesToFirstWarning)}`), table([L.item, L.colour, L.drafted, L.approved, L.firstDelivery, L.p95, L.coverage], review.warnings.map((w) => [bi(w.headline, lang, w.id), w.colour ? WARNING_COLOUR_LABELS[w.colour][lang] : '—', t(w.draftedAt), t(w.approvedAt), t(w.firstDeliveryAt), t(w.p95DeliveredAt), num(w.coveragePercent)])));
  const acks = review.warnings.flatMap((w) => w.acks.map((a) => [bi(w.headline, lang, w.id), a.name ?? a.recipientId, a.via ?? '—', t(a.at), num(a.secondsToAck)]));
  if (acks.length) children.push(h2(L.acks), table([L.item, L.recipient, L.via, L.time, L.ackSeconds], acks));
  children.push(h2(L.reports), p(`${L.count}: ${review.reports.count}`), table([L.time, L.team, L.by, L.text], review.reports.items.map((r) => [t(r.at), bi(r.teamName, lang, r.teamId ?? ''), r.by ?? '—', r.text])));
  if (review.drill) {
    const d = review.drill;
    children.push(h2(`${L.drill}: ${d.scenarioTitle[lang] || d.scenarioTitle.zh}`), table([L.item, 'form', L.status, L.time], d.injects.map((i) => [i.id, i.form, i.status === 'released' ? L.released2 : L.pending, t(i.releasedAt)])));
    children.push(h2(L.observations), table([L.time, L.text, L.rating, L.by], d.observations.map((o) => [t(o.at), o.text, num(o.rating), o.by])));
  }
  // 3 · objectives met
  children.push(heading(2));
  children.push(h2(L.byUnit), table([L.unit, L.items, L.onTime, L.lateN, L.skipped, L.open, L.onTimePct], review.checklist.byUnit.map((u) => [bi(u.unitName, lang, u.unit), u.items, u.onTime, u.late, u.skipped, u.open, u.onTimePercent])));
  children.push(h2(L.teamsRequired), table([L.specialty, L.needed, L.sent, L.firstOnScene, L.minutes], review.teams.required.map((r) => [bi(r.specialtyName, lang, r.specialty), r.needed, r.sent, t(r.firstOnSceneAt), num(r.minutesToFirstOnScene)])));
  if (review.drill) children.push(h2(L.expected), table([L.item, L.status, 'withinSeconds', 's'], review.drill.expectedActions.map((a) => [a.action, ({ met: L.met, late: L.lateS, missed: L.missed, pending: L.pending } as const)[a.status], a.withinSeconds, num(a.secondsAfterInject)])));
  children.push(p(`${L.chain}: ${review.chain.ok ? L.chainOk : L.chainBroken.replace('{n}', String(review.chain.brokenAt))}. ${L.head}: ${review.chain.headHash}`));
  // 4 · problems
  children.push(heading(3));
  if (problems.length === 0) children.push(p(L.none));
  problems.forEach((x, i) => children.push(p(`${i + 1}. ${x}`)));
  // 5 · improvements
  children.push(heading(4));
  children.push(review.improvements.length ? table([L.problem, L.unit, L.item, L.dueDate, L.status, L.evidence], review.improvements.map((i) => [i.problem, i.unit, i.planItemId ?? '—', i.dueDate, i.status, i.evidence ?? '—'])) : p(L.none));

  const doc = new Document({
    creator: 'Yingji 应急',
    title,
    styles: { default: { document: { run: { font: lang === 'zh' ? 'SimSun' : 'Calibri', size: 22 } } } },
    sections: [{ children }],
  });
  return Packer.toBuffer(doc);
}
