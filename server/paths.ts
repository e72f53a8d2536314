import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The project's root: the nearest folder above this module that holds package.json. The same
 * answer whether the server runs from its sources (server/, under tsx or vitest) or as the built
 * bundle (dist/server/), so files that ship beside the code — migrations, the basemap, the built
 * client — are found from here rather than from the module's own place.
 */
export const PROJECT_ROOT = findRoot(import.meta.dirname);

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
