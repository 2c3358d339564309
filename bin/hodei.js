#!/usr/bin/env node
// The `hodei` command: runs the compiled CLI (built by `npm install` through the prepare script).
// A bare `hodei worker` — what a provider starts — runs the worker's one-file bundle instead, so a
// worker's cold start does not load the CLI and the agent's many modules (decision 0022), with the
// bundle's code cache (decision 0024).
import { existsSync } from 'node:fs';
import { WORKER_BUNDLE, loadWorkerBundle } from './worker-bundle.js';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'hodei: the CLI is not built; run "npm install" (it builds) in the hodei-jobs folder.\n',
  );
  process.exit(1);
}
const bareWorker = process.argv.length === 3 && process.argv[2] === 'worker';
if (bareWorker && existsSync(WORKER_BUNDLE)) await loadWorkerBundle().exports.main();
else await import(main.href);
