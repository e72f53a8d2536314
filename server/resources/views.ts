import type { Bilingual } from '../../shared/labels.js';
import { TEAM_STATUS_LABELS, type TeamFix, type TeamStatus } from '../../shared/resources.js';

/** Row → API shapes for the organisation's records. */

export interface TeamView {
  id: string;
  name: Bilingual;
  tier: string;
  kind: string;
  specialties: string[];
  headcount: number;
  base: { lat: number; lon: number; address: string };
  contact: { name: string; phone: string };
  status: TeamStatus;
  statusLabel: Bilingual;
  statusSince: string;
  currentDispatchId: string | null;
  /** The plans' responsible units this team works for (the phone's "my items"). */
  planUnits: string[];
  /** Where the team was last seen; null until its phone sent a fix (the map then shows the base). */
  lastFix: TeamFix | null;
}

export function teamView(r: Record<string, any>): TeamView {
  return {
    id: r.id,
    name: { zh: r.name_zh, en: r.name_en },
    tier: r.tier,
    kind: r.kind,
    specialties: r.specialties,
    headcount: r.headcount,
    base: { lat: r.base_lat, lon: r.base_lon, address: r.base_address },
    contact: { name: r.contact_name, phone: r.contact_phone },
    status: r.status,
    statusLabel: TEAM_STATUS_LABELS[r.status as TeamStatus],
    statusSince: (r.status_since as Date).toISOString(),
    currentDispatchId: r.current_dispatch_id ?? null,
    planUnits: r.plan_units ?? [],
    lastFix:
      r.fix_lat === null || r.fix_lat === undefined
        ? null
        : { lat: r.fix_lat, lon: r.fix_lon, accuracyM: r.fix_accuracy_m ?? 0, at: (r.fix_at as Date).toISOString(), receivedAt: (r.fix_received_at as Date).toISOString() },
  };
}

export function warehouseView(r: Record<string, any>) {
  return {
    id: r.id as string,
    name: { zh: r.name_zh, en: r.name_en } as Bilingual,
    tier: r.tier as string,
    areaM2: r.area_m2 as number | null,
    location: { lat: r.lat as number, lon: r.lon as number, address: r.address as string },
    contact: { name: r.contact_name as string, phone: r.contact_phone as string },
  };
}

export function stockLineView(r: Record<string, any>) {
  return {
    id: r.id as string,
    warehouseId: r.warehouse_id as string,
    item: r.item as string,
    category: r.category as string,
    quantity: r.quantity as number,
    minQuantity: r.min_quantity as number | null,
    unit: r.unit as string,
    batch: r.batch as string,
    expiresOn: (r.expires_on as string | null) ?? null,
  };
}

export function shelterView(r: Record<string, any>) {
  return {
    id: r.id as string,
    name: { zh: r.name_zh, en: r.name_en } as Bilingual,
    kind: r.kind as string,
    capacity: r.capacity as number,
    location: { lat: r.lat as number, lon: r.lon as number, address: r.address as string },
  };
}

export function reservePartnerView(r: Record<string, any>) {
  return {
    id: r.id as string,
    name: { zh: r.name_zh, en: r.name_en } as Bilingual,
    kind: r.kind as string,
    location: { lat: r.lat as number, lon: r.lon as number, address: r.address as string },
    contact: { name: r.contact_name as string, phone: r.contact_phone as string },
    leadTimeMinutes: r.lead_time_minutes as number,
    capacity: r.capacity as unknown[],
  };
}

