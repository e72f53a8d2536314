/* The field app's service worker (generated into dist/client/sw.js by client/vite.config.ts). */
const VERSION = '__VERSION__';
const CACHE = 'yingji-field-' + VERSION;
const PRECACHE = __PRECACHE__;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('yingji-field-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

/** The shell is served from the cache (instant, and offline); the API and live channels always go to the network. */
self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate' && (url.pathname === '/field' || url.pathname.startsWith('/field/') || url.pathname === '/field.html')) {
    event.respondWith(caches.match('/field.html').then((hit) => hit || fetch(req)));
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(req)));
  }
});

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: '应急预警', body: event.data ? event.data.text() : '' };
  }
  const title = data.title || data.headline || '应急预警 Warning';
  event.waitUntil(
    Promise.all([
      // 叫应: a warning that must be acknowledged carries an "ack" action (and its personal URL).
      self.registration.showNotification(title, {
        body: data.body || data.text || '',
        tag: data.tag || data.identifier || undefined,
        data,
        actions: Array.isArray(data.actions) ? data.actions.slice(0, 2) : undefined,
        requireInteraction: Boolean(data.ack),
      }),
      self.clients.matchAll({ type: 'window' }).then((cs) => cs.forEach((c) => c.postMessage({ type: 'warning', warning: data }))),
    ]),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const ack = event.notification.data && event.notification.data.ack;
  if (event.action === 'ack' && ack && typeof ack.url === 'string') {
    // The acknowledge action answers at once (POST, JSON body {via:"push"}), without opening the app.
    const url = new URL(ack.url, self.location.origin);
    event.waitUntil(
      fetch(url.pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ack.body || { via: 'push' }) }).catch(() => undefined),
    );
    return;
  }
  event.waitUntil(self.clients.openWindow('/field'));
});
