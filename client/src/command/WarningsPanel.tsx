import { useEffect, useState } from 'preact/hooks';
import { get, post, errorText } from '../common/api.js';
import { bi, formatTime, t } from '../common/i18n.js';
import { Panel } from '../common/ui.js';
import type { Session } from '../common/session.js';
import type { IncidentView } from '../../../shared/incidents.js';
import type { WarningView } from '../../../shared/warnings.js';
import { WARNING_CHANNEL_LABELS, WARNING_COLOUR_LABELS } from '../../../shared/labels.js';
import { can } from '../../../shared/policy.js';
import type { IncidentDetail } from './Board.js';
import { ConfirmButton } from './ResourcesPanels.js';

const STATUS: Record<string, { zh: string; en: string }> = {
  draft: { zh: '草稿', en: 'Draft' },
  sent: { zh: '已发布', en: 'Sent' },
  superseded: { zh: '已更新', en: 'Superseded' },
  cancelled: { zh: '已解除', en: 'Cancelled' },
};

const ACK_STEP: Record<string, { zh: string; en: string }> = {
  resend: { zh: '已重发', en: 'resent' },
  call: { zh: '已呼叫', en: 'called' },
  escalate: { zh: '已报上级', en: 'superior alerted' },
};

/** Warnings: draft from the plan's template → approve (two-person rule) → delivery counters per channel. */
export function WarningsPanel(props: { incident: IncidentView; detail: IncidentDetail | null; session: Session; refresh: number }) {
  const { incident } = props;
  const [warnings, setWarnings] = useState<WarningView[]>([]);
  const [template, setTemplate] = useState('');
  const [error, setError] = useState<string | null>(null);
  const templates = props.detail?.plan.warningTemplates ?? [];
  const user = props.session.user;
  const canDraft = can(user, 'warning.draft', { incident });
  const reload = () =>
    get<{ warnings: WarningView[] }>(`/api/incidents/${incident.id}/warnings`)
      .then((r) => setWarnings(r.warnings))
      .catch(() => {});
  useEffect(() => void reload(), [incident.id, props.refresh]);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <Panel title={t('预警信息发布', 'Warnings')} id="warnings">
      {canDraft && (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (template) void act(() => post(`/api/incidents/${incident.id}/warnings`, { template }));
          }}
        >
          <select aria-label={t('预警模板', 'Template')} value={template} onChange={(e) => setTemplate(e.currentTarget.value)} name="template">
            <option value="">{t('— 选择模板 —', '— template —')}</option>
            {templates.map((tp) => (
              <option key={tp.id} value={tp.id}>
                {tp.id} · {bi(WARNING_COLOUR_LABELS[tp.colour as keyof typeof WARNING_COLOUR_LABELS])}
              </option>
            ))}
          </select>
          <button type="submit" disabled={!template}>
            {t('生成草稿', 'Draft')}
          </button>
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {warnings.length === 0 && <p class="muted">{t('暂无预警', 'No warnings')}</p>}
      {warnings.map((w) => (
        <article key={w.id} class={`warning colour-${w.colour}`} data-warning={w.id} data-status={w.status}>
          <h4>
            <span class={`swatch ${w.colour}`} /> {bi(w.headline)} <span class="badge">{t(STATUS[w.status]!.zh, STATUS[w.status]!.en)}</span>
          </h4>
          <p class="small">{bi(w.text)}</p>
          <p class="muted small">
            {w.channels.map((c) => bi(WARNING_CHANNEL_LABELS[c])).join(' · ')} · {t('起草', 'drafted')} {formatTime(w.createdAt)}
            {w.approvedAt && ` · ${t('签发', 'approved')} ${formatTime(w.approvedAt)}`}
          </p>
          {w.status === 'draft' && (
            <details class="outgoing" data-testid="outgoing" open={canDraft}>
              <summary>{t('将发出的内容（签发前请核对）', 'Exactly what will go out (check before approving)')}</summary>
              {w.outgoing.sms && (
                <p>
                  <b>{bi(WARNING_CHANNEL_LABELS.sms)}</b>（{w.outgoing.sms.segments} {t('条', 'segments')}）：<span data-testid="outgoing-sms">{w.outgoing.sms.body}</span>
                </p>
              )}
              {w.outgoing.push && (
                <p>
                  <b>{bi(WARNING_CHANNEL_LABELS.push)}</b>：<span data-testid="outgoing-push">{w.outgoing.push.title} — {w.outgoing.push.body}</span>
                </p>
              )}
              {w.outgoing.broadcast && (
                <p>
                  <b>{bi(WARNING_CHANNEL_LABELS.broadcast)}</b>：<span data-testid="outgoing-broadcast">{bi(w.outgoing.broadcast.headline)} — {bi(w.outgoing.broadcast.description)}</span>
                </p>
              )}
            </details>
          )}
          {w.status === 'draft' && can(user, 'warning.approve', { incident, msgType: w.msgType }) && (
            <ConfirmButton
              testid="approve-warning"
              label={t('审核签发', 'Approve and send')}
              confirm={t('确认签发', 'Confirm approval')}
              onConfirm={() => act(() => post(`/api/warnings/${w.id}/approve`, {}))}
            />
          )}
          {w.delivery && (
            <table class="delivery" data-testid="delivery">
              <thead>
                <tr>
                  <th>{t('渠道', 'Channel')}</th>
                  <th>{t('总数', 'Total')}</th>
                  <th>{t('排队', 'Queued')}</th>
                  <th>{t('已发', 'Sent')}</th>
                  <th>{t('送达', 'Delivered')}</th>
                  <th>{t('失败', 'Failed')}</th>
                  <th>{t('覆盖', 'Coverage')}</th>
                </tr>
              </thead>
              <tbody>
                {w.delivery.channels.map((c) => (
                  <tr key={c.channel}>
                    <td>{bi(WARNING_CHANNEL_LABELS[c.channel])}</td>
                    <td>{c.total}</td>
                    <td>{c.queued + c.sending}</td>
                    <td>{c.sent}</td>
                    <td>{c.delivered}</td>
                    <td>{c.failed + c.unknown + c.blocked}</td>
                    <td>{c.coveragePercent.toFixed(0)}%</td>
                  </tr>
                ))}
                {w.delivery.noRecipients.map((channel) => (
                  <tr key={channel} class="no-recipients" data-testid="no-recipients">
                    <td>{bi(WARNING_CHANNEL_LABELS[channel])}</td>
                    <td colSpan={6}>{t('无接收对象：此渠道未发送，不计入覆盖率', 'No recipients: nothing sent on this channel, not counted in coverage')}</td>
                  </tr>
                ))}
                <tr class="total">
                  <td colSpan={6}>{t('总覆盖率（任一渠道送达）', 'Coverage (reached on any channel)')}</td>
                  <td data-testid="coverage">{w.delivery.coveragePercent.toFixed(0)}%</td>
                </tr>
              </tbody>
            </table>
          )}
          {w.acks && (
            <div class="acks" data-testid="acks">
              <p>
                <b>{t('叫应率', 'Acknowledged')}</b>{' '}
                <span data-testid="ack-rate">{w.acks.ratePercent.toFixed(0)}%</span>（{w.acks.acknowledged}/{w.acks.required}）
                {w.acks.dueAt && ` · ${t('应答时限', 'due')} ${formatTime(w.acks.dueAt)}`}
              </p>
              {w.acks.pending.length > 0 && (
                <p class="small" data-testid="ack-pending">
                  {t('未应答：', 'Not answered: ')}
                  {w.acks.pending.map((p) => `${p.name ?? '—'}${p.steps.length ? `（${p.steps.map((s) => t(ACK_STEP[s]?.zh ?? s, ACK_STEP[s]?.en ?? s)).join('→')}）` : ''}`).join('、')}
                </p>
              )}
            </div>
          )}
        </article>
      ))}
    </Panel>
  );
}
