import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 600_000,
    // No Ryuk (no registry to pull it from): throwaway containers are removed by the tests themselves.
    env: { CI: 'true', TESTCONTAINERS_RYUK_DISABLED: 'true' },
    setupFiles: ['test/setup.ts'],
    // Integration tests share one Docker engine on a small machine: one file at a time.
    fileParallelism: false,
    projects: [
      // Pure logic: no Docker (`npm run test:unit`).
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
