import { readFile, writeFile, mkdir, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPlans, parsePlan, PlanValidationError } from '../server/plans/loader.js';
import { planJsonSchema } from '../server/plans/json-schema.js';
import { effectiveChecklist } from '../shared/plan.js';
import { RESPONSE_LEVELS } from '../shared/labels.js';
import { spawnServer, tempDir, testEnv } from './helpers/server.js';

const PLANS_DIR = path.resolve('plans');

async function shippedPlan(file = 'waterlogging-underpass.yaml'): Promise<any> {
  return parse(await readFile(path.join(PLANS_DIR, file), 'utf8'));
}

function problemsOf(plan: unknown, file = 'broken.yaml') {
  return parsePlan(file, typeof plan === 'string' ? plan : JSON.stringify(plan)).problems;
}

describe('shipped plans', () => {
  it('all validate, at least four, covering the required scenarios', async () => {
    const plans = await loadPlans(PLANS_DIR);
    expect(plans.size).toBeGreaterThanOrEqual(4);
    const hazards = [...plans.values()].map((p) => p.plan.hazard);
    expect(hazards).toEqual(expect.arrayContaining(['waterlogging', 'hazchem', 'fire']));
    expect(hazards.some((h) => ['forest-fire', 'snow-ice', 'gas-explosion'].includes(h))).toBe(true);
  });

  it('each level is complete and bilingual, and a more severe level includes the items of the less severe ones', async () => {
    const plans = await loadPlans(PLANS_DIR);
    for (const { plan } of plans.values()) {
      for (const level of RESPONSE_LEVELS) {
        const content = plan.levels[level];
        if (!content) continue;
        expect(content.checklist.length, `${plan.id} ${level}`).toBeGreaterThan(0);
        expect(content.warningTemplates.length, `${plan.id} ${level} warnings`).toBeGreaterThan(0);
        for (const item of content.checklist) {
          expect(item.text.zh).toMatch(/[\u4e00-\u9fff]/);
          expect(item.text.en).toMatch(/[a-z]/i);
        }
      }
      const ivIds = effectiveChecklist(plan, 'IV').filter((i) => i.includeInHigherLevels !== false).map((i) => i.id);
      const iIds = effectiveChecklist(plan, 'I').map((i) => i.id);
      expect(iIds).toEqual(expect.arrayContaining(ivIds));
      expect(iIds.length).toBeGreaterThan(ivIds.length);
    }
  });

  it('the published JSON Schema is the one generated from the runtime schema', async () => {
    const published = JSON.parse(await readFile(path.join(PLANS_DIR, 'plan.schema.json'), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(planJsonSchema())));
  });
});

describe('broken plans give precise errors', () => {
  it('a missing English title names the path and the line', async () => {
    const text = (await readFile(path.join(PLANS_DIR, 'waterlogging-underpass.yaml'), 'utf8')).replace(/^(title:\n\s+zh: .*\n)\s+en: .*\n/m, '$1');
    const problems = problemsOf(text, 'plans/w.yaml');
    expect(problems).toContainEqual(expect.objectContaining({ file: 'plans/w.yaml', path: 'title.en' }));
    expect(problems.find((p) => p.path === 'title.en')!.line).toBeGreaterThan(0);
  });

  it('an unknown responsible unit', async () => {
    const plan = await shippedPlan();
    plan.levels.IV.checklist[0].unit = 'no-such-unit';
    expect(problemsOf(plan)).toContainEqual(expect.objectContaining({ path: 'levels.IV.checklist[0].unit', message: expect.stringContaining('unknown unit "no-such-unit"') }));
  });

  it('a duplicate item id', async () => {
    const plan = await shippedPlan();
    plan.levels.III.checklist[0].id = plan.levels.IV.checklist[0].id;
    expect(problemsOf(plan)).toContainEqual(expect.objectContaining({ path: 'levels.III.checklist[0].id', message: expect.stringContaining('duplicate checklist item id') }));
  });

  it('a dependency on a missing item, and a dependency cycle', async () => {
    const plan = await shippedPlan();
    plan.levels.IV.checklist[0].dependsOn = ['ghost-item'];
    expect(problemsOf(plan)).toContainEqual(expect.objectContaining({ path: 'levels.IV.checklist[0].dependsOn[0]', message: expect.stringContaining('unknown dependency "ghost-item"') }));
    const cyclic = await shippedPlan();
    const [a, b] = cyclic.levels.IV.checklist;
    a.dependsOn = [b.id];
    b.dependsOn = [a.id];
    expect(problemsOf(cyclic)).toContainEqual(expect.objectContaining({ path: 'levels.IV.checklist', message: expect.stringContaining('dependency cycle') }));
  });

  it('a bad level key, a bad phase, a negative due offset, an unknown field', async () => {
    const plan = await shippedPlan();
    plan.levels.V = plan.levels.IV;
    plan.levels.IV.checklist[1].phase = 'party';
    plan.levels.IV.checklist[2].dueMinutes = -5;
    plan.levels.IV.checklist[3].colour = 'red';
    const problems = problemsOf(plan);
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['levels', 'levels.IV.checklist[1].phase', 'levels.IV.checklist[2].dueMinutes', 'levels.IV.checklist[3]']),
    );
    expect(problems.find((p) => p.path === 'levels')!.message).toMatch(/V/);
  });

  it('an open warning polygon and an unknown material item', async () => {
    const plan = await shippedPlan();
    plan.levels.IV.warningTemplates[0].area.polygon = [[41.7, 123.3], [41.8, 123.3], [41.8, 123.4], [41.7, 123.4]];
    plan.levels.IV.materials.push({ item: 'unobtainium', quantity: 1, unit: '台' });
    const problems = problemsOf(plan);
    expect(problems).toContainEqual(expect.objectContaining({ path: 'levels.IV.warningTemplates[0].area.polygon', message: expect.stringContaining('not closed') }));
    expect(problems.some((p) => /^levels\.IV\.materials\[\d+\]\.item$/.test(p.path))).toBe(true);
  });

  it('YAML syntax errors name the line', () => {
    const problems = problemsOf('id: x\ntitle: [unclosed\n', 'plans/bad.yaml');
    expect(problems[0]).toMatchObject({ file: 'plans/bad.yaml', line: expect.any(Number), message: expect.stringContaining('YAML syntax') });
  });

  it('loadPlans reports every problem of every file and duplicate plan ids', async () => {
    const dir = await tempDir();
    await copyFile(path.join(PLANS_DIR, 'heavy-snow.yaml'), path.join(dir, 'a.yaml'));
    await copyFile(path.join(PLANS_DIR, 'heavy-snow.yaml'), path.join(dir, 'b.yaml'));
    await writeFile(path.join(dir, 'c.yaml'), 'id: Not A Slug\n');
    const err = await loadPlans(dir).catch((e) => e);
    expect(err).toBeInstanceOf(PlanValidationError);
    const messages = (err as PlanValidationError).problems.map((p) => `${path.basename(p.file)} ${p.path} ${p.message}`);
    expect(messages.some((m) => m.startsWith('b.yaml id duplicate plan id "heavy-snow"'))).toBe(true);
    expect(messages.some((m) => m.startsWith('c.yaml id '))).toBe(true);
  });

  it('the server refuses to start on an invalid plan and says which file and path', async () => {
    const plansDir = await tempDir();
    await mkdir(plansDir, { recursive: true });
    const plan = await shippedPlan();
    plan.levels.II.checklist[0].phase = 'nonsense';
    await writeFile(path.join(plansDir, 'broken.yaml'), JSON.stringify(plan));
    const dataDir = await tempDir();
    const err = await spawnServer(testEnv(dataDir, undefined, { PLANS_DIR: plansDir })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('exited (3)');
    expect((err as Error).message).toMatch(/broken\.yaml.*levels\.II\.checklist\[0\]\.phase/);
  });
});
