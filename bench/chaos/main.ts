// `npm run chaos`: starts its own PostgreSQL cluster and nats-server, runs every scenario against
// real `hodei server` and worker processes, and writes docs/reliability.md. Everything it started
// is stopped at the end, also on failure or Ctrl-C.
// Usage: npm run chaos [-- --only name,name --scale 0.2 --out FILE]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNats, startPostgres, type Service } from './services.js';
import { runScenario, type ChaosContext, type Scenario } from './harness.js';
import { CHAOS_SETTINGS, ROOT, killLiveServers } from './hodei-server.js';
import { writeReport, type ScenarioResult } from './report.js';
import { signal, workerProcesses } from './checks.js';
import { serverKill } from './scenarios/server-kill.js';
import { workerKill, workerKillBacklog } from './scenarios/worker-kill.js';
import { duplicateDelivery } from './scenarios/duplicate-delivery.js';
import { natsDown } from './scenarios/nats-down.js';
import { pgRestart } from './scenarios/pg-restart.js';
import { backendsTerminated } from './scenarios/backends-terminated.js';
import { frozenWorker } from './scenarios/frozen-worker.js';
import { poisonEvent } from './scenarios/poison-event.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const ONLY = arg('only', '').split(',').filter(Boolean);
const SCALE = Number(arg('scale', '1'));
const OUT = path.resolve(ROOT, arg('out', 'docs/reliability.md'));
const n = (full: number, least = 1) => Math.max(least, Math.round(full * SCALE));

function scenarios(): Scenario[] {
  return [
    serverKill(n(500, 20), n(50, 3)),
    workerKill(n(10, 2)),
    workerKillBacklog(n(60, 12), n(10, 2)),
    frozenWorker(n(40, 12), n(5, 2)),
    duplicateDelivery(n(200, 20)),
    natsDown(n(200, 40)),
    pgRestart(n(200, 40)),
    backendsTerminated(n(200, 40)),
    poisonEvent(n(500, 20)),
  ];
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'hodei-chaos-'));
  console.log(`chaos: working in ${dir}`);
  const services: Service[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    killLiveServers();
    for (const p of workerProcesses()) signal(p.pid, 'SIGKILL');
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
    if (!process.env.CHAOS_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.log(`chaos: ${sig}, cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const pgService = await startPostgres(dir);
    services.push(pgService);
    const nats = await startNats(dir);
    services.push(nats);
    const ctx: ChaosContext = {
      pgAdminUrl: pgService.url,
      natsUrl: nats.url,
      dir,
      restartPg: () => pgService.restart(),
      stopNats: () => nats.stop(),
      startNats: () => nats.start(),
    };
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios()) {
      if (ONLY.length && !ONLY.includes(scenario.name)) continue;
      const t0 = Date.now();
      console.log(`chaos: ${scenario.name} …`);
      const result = await runScenario(ctx, scenario);
      results.push(result);
      console.log(`chaos: ${scenario.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      console.log(JSON.stringify(result));
    }
    const checks = writeReport({
      results,
      settings: CHAOS_SETTINGS,
      command: `npm run chaos${args.length ? ` -- ${args.join(' ')}` : ''}`,
      totalMs: Date.now() - started,
      file: OUT,
    });
    for (const t of checks) console.log(`${t.met ? 'met ' : 'MISSED'}  ${t.what}: ${t.figure}`);
    console.log(`chaos: wrote ${OUT}`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
