/** A geo: URI (RFC 5870) with a label, which Android and iOS map apps open at the point. */
export function geoLink(lat: number, lon: number, label: string): string {
  const at = `${lat.toFixed(6)},${lon.toFixed(6)}`;
  return `geo:${at}?q=${at}(${encodeURIComponent(label)})`;
}
