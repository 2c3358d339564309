// Bundles the worker agent (dist/agent/worker-main.js and everything it imports) into one file,
// dist/worker.js, which bin/hodei.js runs for a bare `hodei worker`: loading one file instead of
// ~150 modules takes ~85 ms off each worker's cold start here (decision 0022). Run by
// `npm run build` after tsc.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/agent/worker-main.js'],
  outfile: 'dist/worker.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // Some dependencies are CommonJS and require Node's built-in modules; an ES module has no
  // `require` of its own.
  banner: {
    js: "import { createRequire as hodeiCreateRequire } from 'node:module';\nconst require = hodeiCreateRequire(import.meta.url);",
  },
});
