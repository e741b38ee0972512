import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration tests share one Docker engine on a small machine: one file at a time.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', CI: 'true' },
  },
});
