import type { Bilingual } from './labels.js';

/**
 * Team life cycle (队伍状态): available → dispatched (调派) → acknowledged (已接令) → en route (出发)
 * → on scene (到场) → released (返回) → available. A released team may be re-tasked on its way back.
 */
export const TEAM_STATUSES = ['available', 'dispatched', 'acknowledged', 'en_route', 'on_scene', 'released'] as const;
export type TeamStatus = (typeof TEAM_STATUSES)[number];

export const TEAM_STATUS_LABELS: Record<TeamStatus, Bilingual> = {
  available: { zh: '待命', en: 'Available' },
  dispatched: { zh: '已调派', en: 'Dispatched' },
  acknowledged: { zh: '已接令', en: 'Acknowledged' },
  en_route: { zh: '出发途中', en: 'En route' },
  on_scene: { zh: '已到场', en: 'On scene' },
  released: { zh: '返回', en: 'Released (returning)' },
};

/**
 * A team's last known position (最后位置): the phone's fix, sent with a status change or a
 * situation report. `at` is when the phone took it; `receivedAt` when the server stored it.
 */
export interface TeamFix {
  lat: number;
  lon: number;
  accuracyM: number;
  at: string;
  receivedAt: string;
}

/** A dispatch order (任务单) runs through the team's statuses, then ends returned or cancelled. */
export const DISPATCH_STATUSES = ['dispatched', 'acknowledged', 'en_route', 'on_scene', 'released', 'returned', 'cancelled'] as const;
export type DispatchStatus = (typeof DISPATCH_STATUSES)[number];

export const DISPATCH_STATUS_LABELS: Record<DispatchStatus, Bilingual> = {
  dispatched: { zh: '已下达', en: 'Issued' },
  acknowledged: { zh: '已接令', en: 'Acknowledged' },
  en_route: { zh: '出发途中', en: 'En route' },
  on_scene: { zh: '已到场', en: 'On scene' },
  released: { zh: '任务解除，返回', en: 'Released, returning' },
  returned: { zh: '已归队', en: 'Back at base' },
  cancelled: { zh: '已撤销', en: 'Cancelled' },
};

/** While a dispatch is in one of these, its team works that incident and can be sent nowhere else. */
export const ACTIVE_DISPATCH_STATUSES = ['dispatched', 'acknowledged', 'en_route', 'on_scene'] as const satisfies readonly DispatchStatus[];

/** Legal next statuses of a dispatch order; anything else is `409 illegal_transition`. */
export const DISPATCH_TRANSITIONS: Record<DispatchStatus, readonly DispatchStatus[]> = {
  dispatched: ['acknowledged', 'cancelled'],
  acknowledged: ['en_route', 'cancelled'],
  en_route: ['on_scene', 'cancelled'],
  on_scene: ['released'],
  released: ['returned'],
  returned: [],
  cancelled: [],
};

/** What a field user (现场队员) may set on his own team's orders; release and cancel are HQ's decisions. */
export const FIELD_DISPATCH_STATUSES: readonly DispatchStatus[] = ['acknowledged', 'en_route', 'on_scene', 'returned'];

/** Allocation (物资调拨) life cycle: reserved → issued (出库) → delivered (送达); returned (入库) or cancelled. */
export const ALLOCATION_STATUSES = ['reserved', 'issued', 'delivered', 'returned', 'cancelled'] as const;
export type AllocationStatus = (typeof ALLOCATION_STATUSES)[number];

export const ALLOCATION_STATUS_LABELS: Record<AllocationStatus, Bilingual> = {
  reserved: { zh: '已预留', en: 'Reserved' },
  issued: { zh: '已出库', en: 'Issued' },
  delivered: { zh: '已送达', en: 'Delivered' },
  returned: { zh: '已归还入库', en: 'Returned' },
  cancelled: { zh: '已取消', en: 'Cancelled' },
};

export const STOCK_ALERT_KINDS = ['expiry', 'low'] as const;
export type StockAlertKind = (typeof STOCK_ALERT_KINDS)[number];

export interface LatLon {
  lat: number;
  lon: number;
}

export interface DispatchView {
  id: string;
  incidentId: string;
  incidentTitle: string;
  teamId: string;
  teamName: Bilingual;
  task: string;
  location: LatLon & { address: string | null };
  contact: { name: string; phone: string };
  status: DispatchStatus;
  statusLabel: Bilingual;
  createdAt: string;
  createdBy: string;
  acknowledgedAt: string | null;
  enRouteAt: string | null;
  onSceneAt: string | null;
  releasedAt: string | null;
  returnedAt: string | null;
  cancelledAt: string | null;
  updatedAt: string;
}

export interface AllocationView {
  id: string;
  incidentId: string;
  stockLineId: string;
  warehouseId: string;
  item: string;
  quantity: number;
  returnedQuantity: number;
  unit: string;
  status: AllocationStatus;
  note: string | null;
  createdAt: string;
  createdBy: string;
  issuedAt: string | null;
  deliveredAt: string | null;
  closedAt: string | null;
}

export interface StockAlertView {
  stockLineId: string;
  warehouseId: string;
  item: string;
  kind: StockAlertKind;
  quantity: number;
  minQuantity: number | null;
  expiresOn: string | null;
  message: Bilingual;
  raisedAt: string;
}

export interface TeamCandidate {
  teamId: string;
  name: Bilingual;
  status: TeamStatus;
  available: boolean;
  primarySpecialty: boolean;
  distanceKm: number;
  headcount: number;
  proposed: boolean;
  reason: Bilingual;
}

export interface TeamRecommendation {
  specialty: string;
  specialtyLabel: Bilingual;
  count: number;
  alreadyDispatched: string[];
  stillNeeded: number;
  candidates: TeamCandidate[];
  shortfall: number;
}

export interface MaterialSource {
  kind: 'warehouse' | 'reserve-partner';
  warehouseId?: string;
  stockLineId?: string;
  partnerId?: string;
  name: Bilingual;
  distanceKm: number;
  available: number | null;
  proposedQuantity: number | null;
  leadTimeMinutes: number | null;
  reason: Bilingual;
}

export interface MaterialRecommendation {
  item: string;
  itemName: Bilingual;
  unit: string;
  quantity: number;
  alreadyAllocated: number;
  stillNeeded: number;
  sources: MaterialSource[];
  shortfall: number;
}

export interface Recommendations {
  incidentId: string;
  level: string;
  location: LatLon;
  locationSource: 'incident' | 'district-centre';
  teams: TeamRecommendation[];
  materials: MaterialRecommendation[];
}
