/** `<uuid>:<rest>` → [incidentId, rest], or undefined for anything else. */
export function parseIncidentNotification(payload: string): [string, string] | undefined {
  const match = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(.+)$/i.exec(payload);
  return match ? [match[1]!.toLowerCase(), match[2]!] : undefined;
}
