// Loads dist/worker.cjs, the worker agent bundled into one CommonJS file (decision 0022), with the
// V8 code cache `npm run build` made of it (dist/worker.cache, decision 0024): V8 then neither
// parses nor compiles what the cache holds, ~15-30 ms off each worker's start here. A missing,
// stale or foreign cache (another Node version, other V8 flags) is rejected by V8 and the file is
// compiled as usual: slower, never wrong. Used by bin/hodei.js and by scripts/bundle-worker.mjs,
// which makes the cache with the same source text (V8 accepts a cache only for its own source).
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export const WORKER_BUNDLE = path.join(import.meta.dirname, '../dist/worker.cjs');
export const WORKER_CODE_CACHE = path.join(import.meta.dirname, '../dist/worker.cache');

function readCache(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Evaluates the bundle (its modules' top-level code; the worker starts only when `main()` is
 * called). Returns its exports, the compiled script (to make a cache of) and whether a cache was
 * given and used.
 */
export function loadWorkerBundle(file = WORKER_BUNDLE, cacheFile = WORKER_CODE_CACHE) {
  const cachedData = cacheFile === undefined ? undefined : readCache(cacheFile);
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), {
    filename: file,
    cachedData,
  });
  const module = { exports: {} };
  script
    .runInThisContext()
    .call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return {
    exports: module.exports,
    script,
    cacheUsed: cachedData !== undefined && script.cachedDataRejected === false,
  };
}
