import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the web client (dist/client) when its sources changed, for the e2e tests and served pages.
    globalSetup: ['test/helpers/client-build.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Each test file starts its own server and database; two at a time suits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
