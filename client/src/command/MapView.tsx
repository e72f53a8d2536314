import { useEffect, useRef } from 'preact/hooks';
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
}

const COLOURS: Record<MapMarker['kind'], string> = { incident: '#eb5757', team: '#2f80ed', warehouse: '#f2994a', shelter: '#27ae60', pick: '#f2c94c' };

/** Leaflet puts a string tooltip into innerHTML; user text (titles, team names) must go in as text. */
function textNode(text: string): HTMLElement {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

let basemapCache: Promise<GeoJSON.FeatureCollection> | null = null;
let configCache: Promise<{ tileUrl: string | null; tileAttribution: string | null }> | null = null;

/**
 * Leaflet map over the offline basemap (district outline, main roads, rivers as GeoJSON from the
 * server); raster tiles only when the deployment set MAP_TILE_URL.
 */
export function MapView(props: { markers: MapMarker[]; onPick?: (lat: number, lon: number) => void; center?: [number, number]; class?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const pick = useRef(props.onPick);
  pick.current = props.onPick;

  useEffect(() => {
    const m = L.map(el.current!, { zoomControl: true, attributionControl: true, preferCanvas: true }).setView(props.center ?? [41.79, 123.33], 12);
    map.current = m;
    layer.current = L.layerGroup().addTo(m);
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
        if (district) {
          const bounds = L.geoJSON(district).getBounds();
          if (props.center) bounds.extend(props.center);
          m.fitBounds(bounds, { padding: [12, 12], animate: false });
        }
      })
      .catch(() => {});
    m.on('click', (e: L.LeafletMouseEvent) => pick.current?.(Math.round(e.latlng.lat * 1e5) / 1e5, Math.round(e.latlng.lng * 1e5) / 1e5));
    return () => {
      m.remove();
      map.current = null;
    };
  }, []);

  useEffect(() => {
    const group = layer.current;
    if (!group) return;
    group.clearLayers();
    for (const mk of props.markers) {
      L.circleMarker([mk.lat, mk.lon], {
        radius: mk.kind === 'incident' || mk.kind === 'pick' ? 11 : 7,
        color: '#111',
        weight: 1.5,
        fillColor: COLOURS[mk.kind],
        fillOpacity: 0.95,
      })
        .bindTooltip(textNode(mk.label + (mk.status ? ` · ${mk.status}` : '')))
        .addTo(group);
    }
  }, [props.markers]);

  return <div ref={el} class={`map ${props.class ?? ''}`} role="application" aria-label="map" />;
}
