import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The project root, not this directory: test paths and src/ resolve from there.
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Jails are real processes on a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
    env: { NO_COLOR: '1' },
  },
});
