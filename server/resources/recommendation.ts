import type { Queryable } from '../db/database.js';
import type { IncidentRecord } from '../incidents/incidents.js';
import { MATERIAL_ITEMS, SPECIALTIES, type MaterialItemCode, type Specialty } from '../../shared/catalogue.js';
import type { Bilingual } from '../../shared/labels.js';
import {
  ACTIVE_DISPATCH_STATUSES,
  TEAM_STATUS_LABELS,
  type LatLon,
  type MaterialRecommendation,
  type MaterialSource,
  type Recommendations,
  type TeamCandidate,
  type TeamRecommendation,
  type TeamStatus,
} from '../../shared/resources.js';
import { districtCentre } from './district.js';
import { haversineKm, roundKm } from '../geo.js';
import { assignTeams } from './team-assignment.js';

/** Teams a dispatcher can send now: free, or released and on the way back. */
const DISPATCHABLE: readonly TeamStatus[] = ['available', 'released'];

interface TeamRow {
  id: string;
  name_zh: string;
  name_en: string;
  specialties: string[];
  headcount: number;
  base_lat: number;
  base_lon: number;
  status: TeamStatus;
}

/**
 * Proposals for the incident's current level, from the requirements in its copy of the plan.
 * Nothing here changes state: staff confirm or change a proposal, then dispatch or allocate.
 */
export async function recommend(db: Queryable, incident: IncidentRecord): Promise<Recommendations> {
  const level = incident.plan.levels[incident.level];
  const centre = incident.location ? undefined : await districtCentre(db);
  const location: LatLon = incident.location ?? { lat: centre!.lat, lon: centre!.lon };
  const teams = await recommendTeams(db, incident, location, level?.teams ?? []);
  const materials = await recommendMaterials(db, incident, location, level?.materials ?? []);
  return { incidentId: incident.id, level: incident.level, location, locationSource: incident.location ? 'incident' : 'district-centre', teams, materials };
}

/**
 * Candidates per requirement, ranked: dispatchable before busy, primary specialty (listed first
 * by the team) before secondary, nearer before farther (haversine from the team's base), larger
 * headcount. Which teams count and which are proposed is `assignTeams`: one team, one requirement.
 */
async function recommendTeams(db: Queryable, incident: IncidentRecord, at: LatLon, requirements: { specialty: string; count: number }[]): Promise<TeamRecommendation[]> {
  const { rows } = await db.query<TeamRow>('SELECT id, name_zh, name_en, specialties, headcount, base_lat, base_lon, status FROM teams');
  const { rows: working } = await db.query<{ team_id: string }>(
    `SELECT DISTINCT team_id FROM dispatches WHERE incident_id = $1 AND status = ANY($2)`,
    [incident.id, ACTIVE_DISPATCH_STATUSES],
  );
  const onThisIncident = new Set(working.map((r) => r.team_id));
  const km = new Map(rows.map((t) => [t.id, haversineKm(at, { lat: t.base_lat, lon: t.base_lon })]));
  const byDistance = [...rows].sort((a, b) => km.get(a.id)! - km.get(b.id)! || b.headcount - a.headcount);
  const rank = new Map(byDistance.map((t, i) => [t.id, i]));
  const assignment = assignTeams(
    requirements,
    rows.map((t) => ({ id: t.id, specialties: t.specialties, available: DISPATCHABLE.includes(t.status), rank: rank.get(t.id)! })),
    onThisIncident,
  );
  return requirements.map((req, i) => {
    const label: Bilingual = SPECIALTIES[req.specialty as Specialty] ?? { zh: req.specialty, en: req.specialty };
    const alreadyDispatched = assignment.counted[i]!;
    const proposedHere = new Set(assignment.proposed[i]);
    const stillNeeded = Math.max(0, req.count - alreadyDispatched.length);
    const candidates: TeamCandidate[] = rows
      .filter((t) => t.specialties.includes(req.specialty) && !onThisIncident.has(t.id))
      .map((t) => ({ t, km: km.get(t.id)!, available: DISPATCHABLE.includes(t.status), primary: t.specialties[0] === req.specialty }))
      .sort((a, b) => Number(b.available) - Number(a.available) || Number(b.primary) - Number(a.primary) || a.km - b.km || b.t.headcount - a.t.headcount)
      .map(({ t, km, available, primary }) => ({
        teamId: t.id,
        name: { zh: t.name_zh, en: t.name_en },
        status: t.status,
        available,
        primarySpecialty: primary,
        distanceKm: roundKm(km),
        headcount: t.headcount,
        proposed: proposedHere.has(t.id),
        reason: teamReason(label, t.status, available, primary, km, t.headcount),
      }));
    return { specialty: req.specialty, specialtyLabel: label, count: req.count, alreadyDispatched, stillNeeded, candidates, shortfall: stillNeeded - proposedHere.size };
  });
}

function teamReason(specialty: Bilingual, status: TeamStatus, available: boolean, primary: boolean, km: number, headcount: number): Bilingual {
  const d = roundKm(km);
  const zh = [
    available ? (status === 'released' ? '返回途中，可改派' : '待命可调') : `当前${TEAM_STATUS_LABELS[status].zh}，暂不可调`,
    primary ? `主专业为${specialty.zh}` : `具备${specialty.zh}能力`,
    `距事发地${d}公里`,
    `${headcount}人`,
  ];
  const en = [
    available ? (status === 'released' ? 'returning, can be re-tasked' : 'available') : `currently ${TEAM_STATUS_LABELS[status].en.toLowerCase()}, not available`,
    primary ? `primary specialty ${specialty.en}` : `also does ${specialty.en}`,
    `${d} km from the incident`,
    `${headcount} people`,
  ];
  return { zh: zh.join('；'), en: en.join('; ') };
}

interface StockSourceRow {
  id: string;
  warehouse_id: string;
  quantity: number;
  expires_on: string | null;
  name_zh: string;
  name_en: string;
  lat: number;
  lon: number;
}

interface PartnerRow {
  id: string;
  name_zh: string;
  name_en: string;
  lat: number;
  lon: number;
  lead_time_minutes: number;
  capacity: { item?: string; category?: string; quantity?: number }[];
}

/**
 * Sources per material requirement: warehouse stock lines nearest first (soonest-expiring batch
 * first within a warehouse, for rotation), filled greedily; what is still missing goes to
 * agreement reserves (协议储备): item agreements before category ones, shortest lead time first.
 */
async function recommendMaterials(
  db: Queryable,
  incident: IncidentRecord,
  at: LatLon,
  requirements: { item: string; quantity: number }[],
): Promise<MaterialRecommendation[]> {
  if (requirements.length === 0) return [];
  const items = requirements.map((r) => r.item);
  const { rows: stock } = await db.query<StockSourceRow & { item: string }>(
    `SELECT s.id, s.item, s.warehouse_id, s.quantity, s.expires_on, w.name_zh, w.name_en, w.lat, w.lon
     FROM stock_lines s JOIN warehouses w ON w.id = s.warehouse_id WHERE s.item = ANY($1) AND s.quantity > 0`,
    [items],
  );
  const { rows: allocated } = await db.query<{ item: string; out: number }>(
    `SELECT item, sum(quantity - returned_quantity) AS out FROM allocations
     WHERE incident_id = $1 AND status <> 'cancelled' GROUP BY item`,
    [incident.id],
  );
  const outByItem = new Map(allocated.map((r) => [r.item, Number(r.out)]));
  const { rows: partners } = await db.query<PartnerRow>('SELECT id, name_zh, name_en, lat, lon, lead_time_minutes, capacity FROM reserve_partners');

  return requirements.map((req) => {
    const catalogue = MATERIAL_ITEMS[req.item as MaterialItemCode];
    const itemName = catalogue?.name ?? { zh: req.item, en: req.item };
    const unit = catalogue?.unit.zh ?? '';
    const alreadyAllocated = outByItem.get(req.item) ?? 0;
    let missing = Math.max(0, req.quantity - alreadyAllocated);
    const stillNeeded = missing;
    const sources: MaterialSource[] = [];
    const lines = stock
      .filter((s) => s.item === req.item)
      .map((s) => ({ s, km: haversineKm(at, { lat: s.lat, lon: s.lon }) }))
      .sort((a, b) => a.km - b.km || (a.s.expires_on ?? '9999').localeCompare(b.s.expires_on ?? '9999'));
    for (const { s, km } of lines) {
      if (missing <= 0) break;
      const take = Math.min(missing, s.quantity);
      missing -= take;
      sources.push({
        kind: 'warehouse',
        warehouseId: s.warehouse_id,
        stockLineId: s.id,
        name: { zh: s.name_zh, en: s.name_en },
        distanceKm: roundKm(km),
        available: s.quantity,
        proposedQuantity: take,
        leadTimeMinutes: null,
        reason: {
          zh: `储备库距事发地${roundKm(km)}公里，现有${s.quantity}${unit}${s.expires_on ? `（批次有效期至${s.expires_on}）` : ''}，建议调拨${take}${unit}`,
          en: `Warehouse ${roundKm(km)} km from the incident holds ${s.quantity} ${catalogue?.unit.en ?? ''}${s.expires_on ? ` (batch expires ${s.expires_on})` : ''}; propose ${take}`,
        },
      });
    }
    if (missing > 0) {
      const offers = partners
        .map((p) => ({ p, entry: p.capacity.find((c) => c.item === req.item) ?? p.capacity.find((c) => !c.item && c.category === catalogue?.category) }))
        .filter((o) => o.entry)
        .map((o) => ({ ...o, exact: o.entry!.item === req.item, km: haversineKm(at, { lat: o.p.lat, lon: o.p.lon }) }))
        // A promise for this very item beats a general category agreement; then the quickest supplier.
        .sort((a, b) => Number(b.exact) - Number(a.exact) || a.p.lead_time_minutes - b.p.lead_time_minutes || a.km - b.km);
      for (const { p, entry, km } of offers) {
        if (missing <= 0) break;
        const promised = entry!.quantity ?? null;
        const take = promised === null ? missing : Math.min(missing, promised);
        missing -= take;
        sources.push({
          kind: 'reserve-partner',
          partnerId: p.id,
          name: { zh: p.name_zh, en: p.name_en },
          distanceKm: roundKm(km),
          available: promised,
          proposedQuantity: take,
          leadTimeMinutes: p.lead_time_minutes,
          reason: {
            zh: `协议储备：库存不足，${p.lead_time_minutes}分钟内供货${promised === null ? '（按品类协议，数量待确认）' : `，协议量${promised}${unit}`}，建议调用${take}${unit}`,
            en: `Agreement reserve: warehouses fall short; delivers within ${p.lead_time_minutes} min${promised === null ? ' (category agreement, quantity to confirm)' : `, agreed ${promised}`}; propose ${take}`,
          },
        });
      }
    }
    return { item: req.item, itemName, unit, quantity: req.quantity, alreadyAllocated, stillNeeded, sources, shortfall: Math.max(0, missing) };
  });
}
