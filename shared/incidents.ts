import type { Bilingual, HazardType, IncidentMode, ResponseLevel } from './labels.js';
import type { Area } from './plan.js';

/** An incident as the API returns it. */
export interface IncidentView {
  id: string;
  planId: string;
  /** Plan revision and content digest at activation, e.g. "2026-11#3f2a…". */
  planVersion: string;
  planTitle: Bilingual;
  hazard: HazardType;
  title: string;
  mode: IncidentMode;
  status: 'active' | 'closed';
  level: ResponseLevel;
  /** Levels the plan defines (the ones the incident can move to). */
  levels: ResponseLevel[];
  location: { lat: number; lon: number } | null;
  area: Area | null;
  activatedAt: string;
  activatedBy: string;
  closedAt: string | null;
  closedBy: string | null;
  /** Sequence number of the newest event-log entry. */
  lastSeq: number;
  /** Activation criteria of the current level. */
  activationCriteria: Bilingual[];
}
