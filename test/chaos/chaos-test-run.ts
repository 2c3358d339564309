// The chaos suite in small, for the test suite: a real server (test/helpers/server.ts) whose jobs
// write the chaos ledger (bench/chaos/ledger.ts), queued with idempotent retries while the server
// or its services are away, and the invariants read back: none lost, none recorded twice, no two
// runs of a job at once, no zombie after one reconcile interval. Never timings.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { startTestServer, type ServerOptions, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import {
  ledgerFigures,
  ledgerJob,
  watchLedger,
  type LedgerWatcher,
} from '../../bench/chaos/ledger.js';
import { correlation, jobStates, recordedTwice, zombies } from '../../bench/chaos/checks.js';
import type { Db } from '../../src/db/db.js';

/** Short safety-net rounds, so "after one reconcile interval" is 2 s; a RUN a dead server sent
 * and nobody acknowledged is requeued after 3 s, not 10 (a shorter test, the same paths). */
export const CHAOS_TEST_ENV: Record<string, string> = {
  HODEI_MAX_WORKERS: '4',
  HODEI_DISPATCH_ACK_TIMEOUT: '3s',
  HODEI_REAPER_INTERVAL: '2s',
  HODEI_RECONCILE_INTERVAL: '2s',
};

export interface ChaosTestRun {
  server: TestServer;
  ledger: LedgerWatcher;
  ids: string[];
  queue(count: number, seconds: number): Promise<string[]>;
  /** Every job queued SUCCEEDED, once, never two runs at once, no zombie, every event correlated. */
  expectInvariants(): Promise<ReturnType<typeof ledgerFigures>>;
  cleanup(): Promise<void>;
}

export async function startChaosTestRun(options: ServerOptions = {}): Promise<ChaosTestRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hodei-chaos-test-'));
  const ledgerFile = path.join(dir, 'ledger');
  const server = await startTestServer({
    ...options,
    env: { ...CHAOS_TEST_ENV, ...options.env },
  });
  const ledger = watchLedger(ledgerFile);
  const ids: string[] = [];
  let queued = 0;
  let db: Db | undefined;
  const run: ChaosTestRun = {
    server,
    ledger,
    ids,
    async queue(count, seconds) {
      const got = await Promise.all(
        Array.from({ length: count }, async () => {
          const key = `chaos-${queued++}`;
          return waitFor(
            `job ${key} queued`,
            async () => {
              try {
                const { job } = await server.jobs.queueJob({
                  spec: ledgerJob(ledgerFile, seconds),
                  idempotencyKey: key,
                });
                return job?.id;
              } catch {
                return undefined;
              }
            },
            60_000,
            200,
          );
        }),
      );
      ids.push(...got);
      return got;
    },
    async expectInvariants() {
      db ??= await server.openDb();
      const d = db;
      const states = await waitFor(
        'every job to end',
        async () => {
          const s = await jobStates(d, ids).catch(() => undefined);
          const open = ids.filter(
            (id) => !['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'].includes(s?.get(id) ?? ''),
          );
          return s && open.length === 0 ? s : undefined;
        },
        60_000,
        250,
      );
      expect(ids.filter((id) => states.get(id) !== 'SUCCEEDED')).toEqual([]);
      expect(await recordedTwice(d)).toBe(0);
      const corr = await correlation(d);
      expect(corr.events).toBeGreaterThan(0);
      expect(corr.without).toBe(0);
      // One reconcile interval (2 s) and a margin: nothing of a dead worker is left.
      await new Promise((r) => setTimeout(r, 3000));
      const left = await zombies(d, server.url);
      expect(left.details).toEqual([]);
      ledger.poll();
      const figures = ledgerFigures(ledger.attempts());
      expect(figures.overlapExamples).toEqual([]);
      expect(figures.overlapping).toBe(0);
      expect(server.proc.exitCode).toBeNull();
      return figures;
    },
    async cleanup() {
      ledger.stop();
      await db?.close().catch(() => undefined);
      await server.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return run;
}
