/** Great-circle helpers live in shared/geo.ts: the field phone's task map measures with the same ones. */
export { EARTH_RADIUS_KM, haversineKm, roundKm } from '../shared/geo.js';
