/**
 * Which requirement each team counts for, and which teams to propose. One team serves one
 * requirement: a team already working on the incident counts once, for its primary specialty
 * when that is asked for; a proposal fills every requirement from teams whose primary
 * specialty it is before any requirement borrows a team for a secondary skill, so the main
 * drainage team is never sent as flood rescue while drainage is short.
 */

export interface AssignableTeam {
  id: string;
  /** In the team's own order: the first is its primary specialty. */
  specialties: string[];
  available: boolean;
  /** Lower is better (distance from the incident, then headcount as a tie-break): the caller's ranking. */
  rank: number;
}

export interface Requirement {
  specialty: string;
  count: number;
}

export interface Assignment {
  /** Per requirement, in order: the teams on the incident counted for it. */
  counted: string[][];
  /** Per requirement, in order: the teams proposed for it. */
  proposed: string[][];
}

export function assignTeams(requirements: readonly Requirement[], teams: readonly AssignableTeam[], onIncident: ReadonlySet<string>): Assignment {
  const counted = requirements.map(() => [] as string[]);
  const proposed = requirements.map(() => [] as string[]);
  const room = (i: number) => requirements[i]!.count - counted[i]!.length - proposed[i]!.length;
  const wanted = (t: AssignableTeam) =>
    // Requirement indexes this team can serve, in the order of its own specialties.
    t.specialties.flatMap((s) => requirements.flatMap((r, i) => (r.specialty === s ? [i] : [])));

  // Teams already there: primary specialty first, then any matching requirement with room; a
  // surplus team counts for its best match, so "already dispatched" never hides it.
  const working = teams.filter((t) => onIncident.has(t.id));
  const placed = new Set<string>();
  for (const primaryOnly of [true, false]) {
    for (const t of working) {
      if (placed.has(t.id)) continue;
      const target = wanted(t).find((i) => room(i) > 0 && (!primaryOnly || requirements[i]!.specialty === t.specialties[0]));
      if (target !== undefined) {
        counted[target]!.push(t.id);
        placed.add(t.id);
      }
    }
  }
  for (const t of working) {
    if (placed.has(t.id)) continue;
    const best = wanted(t)[0];
    if (best !== undefined) counted[best]!.push(t.id);
  }

  // Proposals: first every requirement from its primary-specialty teams, nearest first; then
  // shortfalls from secondary skills, preferring teams that no other short requirement could use.
  const free = teams.filter((t) => t.available && !onIncident.has(t.id)).sort((a, b) => a.rank - b.rank);
  const taken = new Set<string>();
  requirements.forEach((req, i) => {
    for (const t of free) {
      if (room(i) <= 0) break;
      if (!taken.has(t.id) && t.specialties[0] === req.specialty) {
        proposed[i]!.push(t.id);
        taken.add(t.id);
      }
    }
  });
  requirements.forEach((req, i) => {
    if (room(i) <= 0) return;
    const neededElsewhere = (t: AssignableTeam) => wanted(t).some((j) => j !== i && room(j) > 0);
    const secondary = free
      .filter((t) => !taken.has(t.id) && t.specialties.includes(req.specialty))
      .sort((a, b) => Number(neededElsewhere(a)) - Number(neededElsewhere(b)) || a.rank - b.rank);
    for (const t of secondary) {
      if (room(i) <= 0) break;
      proposed[i]!.push(t.id);
      taken.add(t.id);
    }
  });
  return { counted, proposed };
}
