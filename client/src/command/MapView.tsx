import { useEffect, useRef, useState } from 'preact/hooks';
import L from 'leaflet';
import { get } from '../common/api.js';
import { bi } from '../common/i18n.js';

export interface MapMarker {
  id: string;
  lat: number;
  lon: number;
  kind: 'incident' | 'team' | 'warehouse' | 'shelter' | 'pick';
  label: string;
  status?: string;
  /** Fill colour (teams: by state); else the kind's colour. */
  colour?: string;
  /** Drawn as a ring: a team shown at its home base because no fix has arrived. */
  hollow?: boolean;
  /** The label stays on the map (not only on hover); `zoom`: only from that zoom level on. */
  permanent?: boolean | { zoom: number };
}

/** An area on the map: the incident's circle or polygon, a warning's polygon. */
export interface MapShape {
  id: string;
  label: string;
  colour: string;
  dashed?: boolean;
  /** [lat, lon] vertices (as the plans and warnings store them). */
  polygon?: [number, number][];
  circle?: { lat: number; lon: number; radiusKm: number };
}

const COLOURS: Record<MapMarker['kind'], string> = { incident: '#eb5757', team: '#2f80ed', warehouse: '#c97b2a', shelter: '#27ae60', pick: '#f2c94c' };

/** Leaflet puts a string tooltip into innerHTML; user text (titles, team names) must go in as text. */
function textNode(text: string): HTMLElement {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

/**
 * Permanent labels that would overlap a more important one are hidden (class `covered`): the
 * incident first, then teams, warehouses, shelters. Hovering a marker shows its label again.
 */
function declutter(container: HTMLElement | null): void {
  if (!container) return;
  const rank = (el: Element) => (el.classList.contains('incident') ? 0 : el.classList.contains('team') ? 1 : el.classList.contains('warehouse') ? 2 : 3);
  // (A label still fading out of a redraw has opacity 0: it no longer counts.)
  const labels = [...container.querySelectorAll<HTMLElement>('.leaflet-tooltip.map-label')].filter((el) => el.style.opacity !== '0').sort((a, b) => rank(a) - rank(b));
  const kept: DOMRect[] = [];
  for (const el of labels) {
    el.classList.remove('covered');
    const r = el.getBoundingClientRect();
    if (kept.some((k) => r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top)) el.classList.add('covered');
    else kept.push(r);
  }
}

let basemapCache: Promise<GeoJSON.FeatureCollection> | null = null;
let configCache: Promise<{ tileUrl: string | null; tileAttribution: string | null }> | null = null;

/**
 * Leaflet map over the offline basemap (district outline, main roads, rivers as GeoJSON from the
 * server); raster tiles only when the deployment set MAP_TILE_URL.
 */
export function MapView(props: {
  markers: MapMarker[];
  shapes?: MapShape[];
  onPick?: (lat: number, lon: number) => void;
  center?: [number, number];
  /** Points (with an optional radius) the map frames once they are known, instead of the whole district: the response's extent. */
  focus?: { lat: number; lon: number; radiusKm?: number }[];
  class?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const shapeLayer = useRef<L.LayerGroup | null>(null);
  const [zoom, setZoom] = useState(12);
  const focused = useRef(false);
  const pick = useRef(props.onPick);
  pick.current = props.onPick;

  useEffect(() => {
    const m = L.map(el.current!, { zoomControl: true, attributionControl: true, preferCanvas: true, fadeAnimation: false }).setView(props.center ?? [41.79, 123.33], 12);
    map.current = m;
    shapeLayer.current = L.layerGroup().addTo(m);
    layer.current = L.layerGroup().addTo(m);
    m.on('zoomend', () => setZoom(m.getZoom()));
    m.on('moveend', () => declutter(el.current));
    configCache ??= get('/api/map/config');
    configCache.then((c) => map.current === m && c.tileUrl && L.tileLayer(c.tileUrl, { attribution: c.tileAttribution ?? '', maxZoom: 18 }).addTo(m).bringToBack()).catch(() => {});
    basemapCache ??= get('/api/map/basemap');
    basemapCache
      .then((fc) => {
        if (map.current !== m) return; // unmounted before the basemap arrived
        const geo = L.geoJSON(fc, {
          style: (f) => {
            const kind = f?.properties?.kind;
            if (kind === 'district') return { color: '#9fb0c0', weight: 2, dashArray: '6 4', fillColor: '#1d2a36', fillOpacity: 0.35 };
            if (kind === 'river') return { color: '#3b8fd9', weight: 6, opacity: 0.8 };
            return { color: '#c9a86a', weight: f?.properties?.rank === 1 ? 4 : 2.5, opacity: 0.85 };
          },
          onEachFeature: (f, l) => f.properties?.name && l.bindTooltip(textNode(bi(f.properties.name)), { sticky: true }),
        }).addTo(m);
        geo.bringToBack();
        // Show the whole district, and the incident even when it lies just outside it.
        const district = fc.features.find((f) => f.properties?.kind === 'district');
        if (district && !focused.current) {
          const bounds = L.geoJSON(district).getBounds();
          if (props.center) bounds.extend(props.center);
          m.fitBounds(bounds, { padding: [12, 12], animate: false });
          setZoom(m.getZoom());
        }
      })
      .catch(() => {});
    m.on('click', (e: L.LeafletMouseEvent) => pick.current?.(Math.round(e.latlng.lat * 1e5) / 1e5, Math.round(e.latlng.lng * 1e5) / 1e5));
    return () => {
      m.remove();
      map.current = null;
    };
  }, []);

  const focusKey = (props.focus ?? []).map((p) => `${p.lat.toFixed(4)},${p.lon.toFixed(4)},${p.radiusKm ?? 0}`).join(';');
  useEffect(() => {
    const m = map.current;
    if (!m || focused.current || !props.focus?.length) return;
    const bounds = L.latLngBounds([]);
    for (const p of props.focus) {
      if (p.radiusKm) bounds.extend(L.latLng(p.lat, p.lon).toBounds(p.radiusKm * 2000));
      else bounds.extend([p.lat, p.lon]);
    }
    if (!bounds.isValid()) return;
    focused.current = true;
    m.fitBounds(bounds, { padding: [24, 24], maxZoom: 15, animate: false });
    setZoom(m.getZoom());
  }, [focusKey]);

  useEffect(() => {
    const group = shapeLayer.current;
    if (!group) return;
    group.clearLayers();
    for (const sh of props.shapes ?? []) {
      const style = { color: sh.colour, weight: sh.dashed ? 2 : 3, dashArray: sh.dashed ? '8 6' : undefined, fillColor: sh.colour, fillOpacity: sh.dashed ? 0.06 : 0.14 };
      if (sh.polygon) L.polygon(sh.polygon, style).bindTooltip(textNode(sh.label), { sticky: true }).addTo(group);
      if (sh.circle) L.circle([sh.circle.lat, sh.circle.lon], { ...style, radius: sh.circle.radiusKm * 1000 }).bindTooltip(textNode(sh.label), { sticky: true }).addTo(group);
    }
  }, [props.shapes]);

  useEffect(() => {
    const group = layer.current;
    if (!group) return;
    group.clearLayers();
    for (const mk of props.markers) {
      const permanent = mk.permanent === true || (typeof mk.permanent === 'object' && zoom >= mk.permanent.zoom);
      const colour = mk.colour ?? COLOURS[mk.kind];
      const marker = L.circleMarker([mk.lat, mk.lon], {
        radius: mk.kind === 'incident' || mk.kind === 'pick' ? 11 : mk.kind === 'team' ? 8 : 6,
        color: mk.hollow ? colour : '#111',
        weight: mk.hollow ? 3 : 1.5,
        dashArray: mk.hollow ? '3 3' : undefined,
        fillColor: colour,
        fillOpacity: mk.hollow ? 0.15 : 0.95,
      })
        // Text nodes only: labels carry names users typed.
        .bindTooltip(textNode(mk.label + (mk.status ? ` · ${mk.status}` : '')), permanent ? { permanent: true, direction: 'right', offset: [8, 0], className: `map-label ${mk.kind}` } : {})
        .addTo(group);
      if (permanent) {
        // A label hidden by decluttering shows while the pointer is on its marker.
        marker.on('mouseover', () => marker.getTooltip()?.getElement()?.classList.add('hover'));
        marker.on('mouseout', () => marker.getTooltip()?.getElement()?.classList.remove('hover'));
      }
    }
    requestAnimationFrame(() => declutter(el.current));
  }, [props.markers, zoom]);

  // The vectors are drawn on a canvas; the counts let a test (and a curious reader) see what is there.
  return <div ref={el} class={`map ${props.class ?? ''}`} role="application" aria-label="map" data-markers={props.markers.length} data-shapes={(props.shapes ?? []).length} />;
}
