/** Validates seed/demo-organisation.yaml and prints the totals the bureau's plan quotes. */
import { readOrganisationSeed } from '../server/resources/seed-file.js';

const seed = await readOrganisationSeed(process.argv[2] ?? 'seed/demo-organisation.yaml');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
for (const tier of ['district', 'street', 'social'] as const) {
  const teams = seed.teams.filter((t) => t.tier === tier);
  console.log(`${tier} teams: ${teams.length}, people: ${sum(teams.map((t) => t.headcount))}`);
}
console.log(`warehouses: ${seed.warehouses.map((w) => `${w.name.zh} ${w.areaM2 ?? '?'}m²`).join(', ')}`);
console.log(`shelters: ${seed.shelters.length}, capacity ${sum(seed.shelters.map((s) => s.capacity))}`);
console.log(`reserve partners: ${seed.reservePartners.length}`);
