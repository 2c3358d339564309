// Two projects: fast unit tests beside the code, and the slower suites in test/ that talk to real
// PostgreSQL, NATS and processes.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two test files at a time: most of the integration suites wait on real processes, the
    // database and the bus rather than use a core. On this project's 2-core machine the whole
    // suite took 926 s one file at a time and 656 s two at a time, the same evening.
    maxWorkers: 2,
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
