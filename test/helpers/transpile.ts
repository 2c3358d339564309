// Compiles a few source modules to plain JavaScript in a folder, for a test that must run them in
// a child process of its own (vitest transpiles only in the test's process). Type-only, no
// bundling: the modules must import nothing but each other (by relative '.js' paths) and Node.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Writes `<outDir>/<path under src>.js` for each of `files` (paths under src/), as ES modules. */
export function transpileSources(files: readonly string[], outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
  for (const file of files) {
    const source = readFileSync(path.join(ROOT, 'src', file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        // ESNext, not NodeNext: a lone file has no package.json to say it is a module.
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2023,
        verbatimModuleSyntax: true,
      },
      fileName: file,
    });
    const target = path.join(outDir, file.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}
