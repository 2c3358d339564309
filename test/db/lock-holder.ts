// Starts a separate Node process that takes the data directory lock and holds it until killed, to
// prove the lock works across processes. The child runs the real lock module, transpiled on the
// fly with the TypeScript compiler (Node 20 cannot run .ts files itself).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const SRC = new URL('../../src/', import.meta.url);
const MODULES = ['shared/errors.ts', 'db/pglite/data-dir-lock.ts'];

const CHILD = `
import { acquireDataDirLock } from './db/pglite/data-dir-lock.js';
await acquireDataDirLock(process.argv[2]);
process.stdout.write('locked\\n');
setInterval(() => undefined, 1 << 30);
`;

export interface LockHolder {
  pid: number;
  /** SIGKILLs the child, leaving its lock file behind as a crash would. */
  kill(): Promise<void>;
}

export async function spawnLockHolder(dataDir: string): Promise<LockHolder> {
  const root = await mkdtemp(path.join(tmpdir(), 'hodei-lock-holder-'));
  for (const file of MODULES) {
    const source = await readFile(new URL(file, SRC), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const target = path.join(root, file.replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  await writeFile(path.join(root, 'package.json'), '{"type":"module"}');
  await writeFile(path.join(root, 'holder.js'), CHILD);

  const child = spawn(process.execPath, [path.join(root, 'holder.js'), dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}): ${stderr}`)));
  });
  return {
    pid: child.pid!,
    async kill() {
      child.kill('SIGKILL');
      await exited;
      await rm(root, { recursive: true, force: true });
    },
  };
}
