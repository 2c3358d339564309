#!/usr/bin/env node
// The `hodei` command: runs the compiled CLI (built by `npm install` through the prepare script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'hodei: the CLI is not built; run "npm install" (it builds) in the hodei-jobs folder.\n',
  );
  process.exit(1);
}
await import(main.href);
