import { useEffect, useState } from 'preact/hooks';
import type { Bilingual } from '../../../shared/labels.js';

/** zh-CN by default; the English switch is remembered per browser. */
export type Lang = 'zh' | 'en';
const KEY = 'yingji.lang';
let current: Lang = (typeof localStorage !== 'undefined' && localStorage.getItem(KEY) === 'en' ? 'en' : 'zh');
const listeners = new Set<() => void>();

export const lang = () => current;
export function setLang(next: Lang): void {
  current = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  listeners.forEach((l) => l());
}

/** A UI string in both languages, picked by the current language. */
export const t = (zh: string, en: string): string => (current === 'zh' ? zh : en);
/** A bilingual value from the API. */
export const bi = (b: Bilingual | null | undefined): string => (b ? (current === 'zh' ? b.zh : b.en) : '');

/** Re-renders the caller when the language changes. */
export function useLang(): Lang {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return current;
}

/** Times are shown in the incident's time zone (the district's, Asia/Shanghai), never the browser's. */
let timeZone = 'Asia/Shanghai';
export const setTimeZone = (tz: string) => void (timeZone = tz);
export const getTimeZone = () => timeZone;

export function formatTime(iso: string | null | undefined, withDate = false): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return new Intl.DateTimeFormat(current === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone,
    hour12: false,
    ...(withDate ? { month: '2-digit', day: '2-digit' } : {}),
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(d);
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return t(`${h}小时${m}分`, `${h}h ${m}m`);
  if (m > 0) return t(`${m}分${s % 60}秒`, `${m}m ${s % 60}s`);
  return t(`${s}秒`, `${s}s`);
}
