import { get, NetworkError } from '../common/api.js';

/**
 * GET with a last-known copy in localStorage: the field app shows what it last saw when the
 * network is gone (marked with the time it was fetched).
 */
export async function cachedGet<T>(path: string): Promise<{ data: T; fetchedAt: string; fromCache: boolean }> {
  const key = `yingji.cache.${path}`;
  try {
    const data = await get<T>(path);
    const fetchedAt = new Date().toISOString();
    localStorage.setItem(key, JSON.stringify({ data, fetchedAt }));
    return { data, fetchedAt, fromCache: false };
  } catch (err) {
    const hit = localStorage.getItem(key);
    if (err instanceof NetworkError && hit) return { ...(JSON.parse(hit) as { data: T; fetchedAt: string }), fromCache: true };
    throw err;
  }
}

/** What the task map reads besides the incident, the orders and the team: warmed while online. */
export const TASK_MAP_PATHS = ['/api/map/config', '/api/map/basemap', '/api/shelters', '/api/warehouses'] as const;
