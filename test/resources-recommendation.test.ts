import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { assignTeams } from '../server/resources/team-assignment.js';

describe('assignTeams: one team, one requirement', () => {
  const team = (id: string, specialties: string[], rank: number, available = true) => ({ id, specialties, available, rank });

  it('counts a dispatched team once, for its primary specialty', () => {
    const reqs = [{ specialty: 'flood-rescue', count: 2 }, { specialty: 'drainage', count: 2 }, { specialty: 'water-rescue', count: 1 }];
    const teams = [team('A', ['drainage', 'flood-rescue', 'water-rescue'], 0), team('B', ['flood-rescue', 'drainage'], 1)];
    const { counted } = assignTeams(reqs, teams, new Set(['A', 'B']));
    expect(counted).toEqual([['B'], ['A'], []]);
  });

  it('never proposes a primary-drainage team for flood rescue while drainage is short', () => {
    const reqs = [{ specialty: 'flood-rescue', count: 3 }, { specialty: 'drainage', count: 2 }];
    // Nearest first: the drainage teams sit closest and also list flood-rescue.
    const teams = [team('D1', ['drainage', 'flood-rescue'], 0), team('D2', ['drainage', 'flood-rescue'], 1), team('F1', ['flood-rescue'], 2), team('V1', ['evacuation', 'flood-rescue'], 3)];
    const { proposed } = assignTeams(reqs, teams, new Set());
    expect(proposed[1]).toEqual(['D1', 'D2']);
    expect(proposed[0]).toEqual(['F1', 'V1']);
  });

  it('borrows for a secondary skill the team no other short requirement needs', () => {
    const reqs = [{ specialty: 'flood-rescue', count: 1 }, { specialty: 'drainage', count: 1 }];
    const teams = [team('X', ['evacuation', 'flood-rescue', 'drainage'], 0), team('Y', ['evacuation', 'flood-rescue'], 1)];
    const { proposed } = assignTeams(reqs, teams, new Set());
    expect(proposed).toEqual([['Y'], ['X']]);
  });

  it('proposes no team twice and never one that is busy', () => {
    const reqs = [{ specialty: 'a', count: 5 }, { specialty: 'b', count: 5 }];
    const teams = [team('1', ['a', 'b'], 0), team('2', ['b', 'a'], 1), team('3', ['a'], 2, false)];
    const { proposed } = assignTeams(reqs, teams, new Set());
    expect(proposed.flat().sort()).toEqual(['1', '2']);
  });
});

describe('recommendations over the API', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ STOCK_WATCH_CRON: 'off' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a level-Ⅱ waterlogging response: dispatched teams count once; drainage teams stay on drainage', async () => {
    const res = await t.admin.post('/api/incidents', { planId: 'waterlogging-underpass', level: 'II', mode: 'actual', location: { lat: 41.8001, lon: 123.3803 } });
    expect(res.status).toBe(201);
    const id = res.body.incident.id;
    const teams = (await t.admin.get('/api/teams')).body.teams as { id: string; specialties: string[] }[];
    const specialtiesOf = new Map(teams.map((x) => [x.id, x.specialties]));

    const first = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations.teams as any[];
    const drainage = first.find((r) => r.specialty === 'drainage');
    for (const req of first) {
      if (req.specialty === 'drainage' || drainage.shortfall === 0) continue;
      const borrowed = req.candidates.filter((c: any) => c.proposed && specialtiesOf.get(c.teamId)![0] === 'drainage');
      expect(borrowed, `${req.specialty} borrows drainage teams while drainage is short`).toEqual([]);
    }
    // A team is proposed for another skill only when its primary requirement is not short.
    const short = new Set(first.filter((r) => r.shortfall > 0).map((r) => r.specialty));
    for (const req of first) {
      for (const c of req.candidates.filter((x: any) => x.proposed)) {
        const primary = specialtiesOf.get(c.teamId)![0]!;
        if (short.has(primary)) expect(req.specialty, `${c.teamId} proposed for ${req.specialty} while its primary ${primary} is short`).toBe(primary);
      }
    }

    // Dispatch every proposed team: each counts for exactly one requirement.
    const proposed = first.flatMap((r) => r.candidates.filter((c: any) => c.proposed).map((c: any) => c.teamId as string));
    expect(proposed.length).toBeGreaterThan(5);
    for (const teamId of proposed) expect((await t.admin.post(`/api/incidents/${id}/dispatches`, { teamId })).status).toBe(201);
    const after = (await t.admin.get(`/api/incidents/${id}/recommendations`)).body.recommendations.teams as any[];
    const countedIds = after.flatMap((r) => r.alreadyDispatched as string[]);
    expect(countedIds.sort()).toEqual([...proposed].sort());
    for (const req of after) expect(req.stillNeeded).toBe(req.count - req.alreadyDispatched.length < 0 ? 0 : req.count - req.alreadyDispatched.length);
  });
});
