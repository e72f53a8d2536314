import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../shared/errors.js';

describe('docs/API.md', () => {
  it('documents every error code in the catalogue', async () => {
    const doc = await readFile('docs/API.md', 'utf8');
    const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('documents every route the server registers', async () => {
    const doc = await readFile('docs/API.md', 'utf8');
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir('server', { recursive: true })).filter((f) => f.endsWith('.ts'));
    const routes: string[] = [];
    for (const f of files) {
      const src = await readFile(`server/${f}`, 'utf8');
      for (const m of src.matchAll(/router\.(get|post|patch|put|delete)\('([^']+)'/g)) routes.push(`${m[1]!.toUpperCase()} ${m[2]}`);
    }
    expect(routes.length).toBeGreaterThan(10);
    const missing = routes.filter((r) => !doc.includes(r));
    expect(missing).toEqual([]);
  });
});
