import { buildClientIfStale } from '../../scripts/client-build.js';

/** Vitest globalSetup: builds the web client once per run when its inputs changed. */
export default async function setup(): Promise<void> {
  try {
    await buildClientIfStale();
  } catch (err) {
    // Only the browser tests need the client: they fail on their own; every other test runs on.
    console.warn(`web client build failed; e2e tests will fail: ${String(err)}`);
  }
}
