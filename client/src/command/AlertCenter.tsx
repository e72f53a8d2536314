import { useEffect, useRef, useState } from 'preact/hooks';
import type { IncidentEvent } from '../../../shared/events.js';
import { bi, formatTime, t } from '../common/i18n.js';
import { alertsForEvent, overdueAlert, type BoardAlert } from './alerts.js';

const KIND_LABELS: Record<BoardAlert['kind'], { zh: string; en: string }> = {
  unacknowledged: { zh: '叫应未应答', en: 'Not acknowledged' },
  report: { zh: '现场情况', en: 'Field report' },
  overdue: { zh: '超时', en: 'Overdue' },
  stock: { zh: '库存', en: 'Stock' },
  'delivery-failed': { zh: '投递失败', en: 'Delivery failed' },
  inject: { zh: '演练情景', en: 'Drill inject' },
};
const REPEAT_SOUND_MS = 30_000;

/** Acknowledged alert keys per incident, kept in this browser so a reload does not sound them again. */
function ackStore(incidentId: string) {
  const key = `yingji.alerts.acked.${incidentId}`;
  const read = (): Set<string> => {
    try {
      return new Set(JSON.parse(localStorage.getItem(key) ?? '[]') as string[]);
    } catch {
      return new Set();
    }
  };
  return { read, write: (acked: Set<string>) => localStorage.setItem(key, JSON.stringify([...acked].slice(-500))) };
}

/** Two short tones through Web Audio: no sound file to fetch, nothing to cache offline. */
function chime(): boolean {
  try {
    const Ctx = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Ctx) return false;
    const ctx = new Ctx();
    [880, 660].forEach((hz, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.25);
      osc.stop(ctx.currentTime + i * 0.25 + 0.2);
    });
    setTimeout(() => void ctx.close(), 1000);
    return true;
  } catch {
    return false;
  }
}

function notifyDesktop(alert: BoardAlert): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  try {
    new Notification(t(KIND_LABELS[alert.kind].zh, KIND_LABELS[alert.kind].en), { body: bi(alert.text), tag: alert.key });
  } catch {
    // Some browsers allow notifications only from a service worker; the on-screen alert stands.
  }
}

/**
 * Alerts for what must not go unnoticed: new situation reports, overdue checklist items, stock
 * alerts, failed warning deliveries, drill injects. Each stays on screen, with a chime repeated
 * while any is unacknowledged and a desktop notification where the browser allows it.
 * Only entries after `baselineSeq` (the log as it stood when the board opened) raise alerts.
 */
export function AlertCenter(props: { incidentId: string; events: IncidentEvent[]; baselineSeq: number | null; overdue: { id: string; text: string; dueAt: string }[] }) {
  const store = useRef(ackStore(props.incidentId));
  const [acked, setAcked] = useState<Set<string>>(() => store.current.read());
  const [alerts, setAlerts] = useState<BoardAlert[]>([]);
  const seen = useRef(0);
  const failed = useRef(new Map<string, number>());
  const [sounds, setSounds] = useState(0);

  useEffect(() => {
    if (props.baselineSeq === null) return;
    const fresh: BoardAlert[] = [];
    for (const e of props.events.slice(seen.current)) {
      const raised = alertsForEvent(e, failed.current);
      if (e.seq > props.baselineSeq) fresh.push(...raised);
    }
    seen.current = props.events.length;
    if (fresh.length) setAlerts((list) => [...list, ...fresh.filter((a) => !list.some((b) => b.key === a.key))]);
  }, [props.events, props.baselineSeq]);

  useEffect(() => {
    const now = Date.now();
    const fresh = props.overdue.map((item) => overdueAlert(item, now));
    setAlerts((list) => [...list, ...fresh.filter((a) => !list.some((b) => b.key === a.key))]);
  }, [props.overdue.map((i) => i.id).join(',')]);

  const open = alerts.filter((a) => !acked.has(a.key));
  const newest = open.at(-1)?.key;
  useEffect(() => {
    if (!newest) return;
    const latest = open.at(-1)!;
    notifyDesktop(latest);
    if (chime()) setSounds((n) => n + 1);
    const timer = setInterval(() => chime() && setSounds((n) => n + 1), REPEAT_SOUND_MS);
    return () => clearInterval(timer);
  }, [newest]);

  const acknowledge = (keys: string[]) => {
    const next = new Set(acked);
    keys.forEach((k) => next.add(k));
    store.current.write(next);
    setAcked(next);
  };
  if (open.length === 0) return null;
  return (
    <section class="alert-center" role="alert" aria-live="assertive" data-testid="alert-center" data-sounds={sounds}>
      <header>
        <strong>
          {t('待确认提醒', 'Alerts to acknowledge')} ({open.length})
        </strong>
        {typeof Notification !== 'undefined' && Notification.permission === 'default' && (
          <button type="button" onClick={() => void Notification.requestPermission()}>
            {t('允许桌面通知', 'Allow desktop notifications')}
          </button>
        )}
        {open.length > 1 && (
          <button type="button" onClick={() => acknowledge(open.map((a) => a.key))}>
            {t('全部确认', 'Acknowledge all')}
          </button>
        )}
      </header>
      <ul>
        {open.slice(-6).reverse().map((a) => (
          <li key={a.key} class={`alert-item ${a.kind}`} data-alert-kind={a.kind}>
            <span class="badge">{t(KIND_LABELS[a.kind].zh, KIND_LABELS[a.kind].en)}</span> <time>{formatTime(a.at)}</time> <span>{bi(a.text)}</span>{' '}
            <button type="button" data-testid="acknowledge-alert" onClick={() => acknowledge([a.key])}>
              {t('确认', 'Acknowledge')}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
