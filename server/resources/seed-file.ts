import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { organisationSeedSchema, type OrganisationSeed } from './seed-schema.js';
import { formatPath } from '../plans/loader.js';

/** Reads and validates the demo organisation file; throws with one line per problem. */
export async function readOrganisationSeed(file: string): Promise<OrganisationSeed> {
  const result = organisationSeedSchema.safeParse(parse(await readFile(file, 'utf8')));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${file}: ${formatPath(i.path)}: ${i.message}`);
    throw new Error(`invalid organisation file:\n${lines.join('\n')}`);
  }
  const seed = result.data;
  const ids = new Set<string>();
  for (const list of [seed.teams, seed.warehouses, seed.shelters, seed.reservePartners]) {
    for (const entry of list) {
      if (ids.has(entry.id)) throw new Error(`invalid organisation file:\n${file}: duplicate id "${entry.id}"`);
      ids.add(entry.id);
    }
  }
  return seed;
}
