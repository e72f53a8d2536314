import type { Queryable } from '../db/database.js';
import type { WarningFields } from '../../shared/warnings.js';
import { capDateTime, CAP_SENDER } from './cap/rules.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The Atom feed of current alerts, as public-alert aggregators consume CAP: one entry per sent,
 * still-current warning of an actual incident. Exercise alerts never appear here (a drill must
 * not reach the public), nor do drafts or superseded and cancelled alerts.
 */
export async function atomFeed(db: Queryable, base: string): Promise<string> {
  const { rows } = await db.query<{ id: string; identifier: string; cap_sent: string; msg_type: string; fields: WarningFields; approved_at: Date }>(
    `SELECT id, identifier, cap_sent, msg_type, fields, approved_at FROM warnings
      WHERE status = 'sent' AND mode = 'actual' ORDER BY approved_at DESC LIMIT 200`,
  );
  const updated = rows[0] ? capDateTime(rows[0].approved_at) : capDateTime(new Date(0));
  let xml = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:yingji:${esc(CAP_SENDER)}:alerts</id>
  <title>沈阳市铁西区 预警信息 · Tiexi District alerts (CAP 1.2)</title>
  <updated>${updated}</updated>
  <author><name>沈阳市铁西区应急管理局 Tiexi District Emergency Management Bureau</name></author>
  <link rel="self" type="application/atom+xml" href="${esc(base)}/cap/feed.atom"/>
`;
  for (const r of rows) {
    const href = `${base}/cap/alerts/${r.id}.xml`;
    xml += `  <entry>
    <id>urn:yingji:cap:${esc(r.identifier)}</id>
    <title>${esc(r.fields.headline.zh)} / ${esc(r.fields.headline.en)}</title>
    <updated>${esc(r.cap_sent)}</updated>
    <category term="${esc(r.msg_type)}"/>
    <summary>${esc(r.fields.text.zh)}</summary>
    <link rel="alternate" type="application/cap+xml" href="${esc(href)}"/>
    <content type="application/cap+xml" src="${esc(href)}"/>
  </entry>
`;
  }
  return `${xml}</feed>\n`;
}
