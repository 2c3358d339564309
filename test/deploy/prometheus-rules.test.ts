// The alert and recording rules in deploy/prometheus: Prometheus's own checker accepts them, its
// unit tests pass (every alert both firing and not firing), and every alert links a runbook that
// exists and says what it means, how to confirm it and how to fix it.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/server.js';

const run = promisify(execFile);
const DIR = path.join(ROOT, 'deploy/prometheus');
const RULES = path.join(DIR, 'hodei-rules.yml');
const TESTS = path.join(DIR, 'hodei-rules.test.yml');

const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]);

describe('Prometheus rules', () => {
  it('promtool accepts the rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', RULES]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("promtool's unit tests of every alert pass", async () => {
    const { stdout } = await run('promtool', ['test', 'rules', TESTS], { cwd: DIR });
    expect(stdout).toContain('SUCCESS');
  });

  it('every alert is tested firing and not firing', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const cases = readFileSync(TESTS, 'utf8')
      .split(/^\s+- eval_time:/m)
      .slice(1);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.includes(`alertname: ${alert}\n`));
      expect(
        mine.some((c) => /exp_alerts:\s*\[\]/.test(c)),
        `${alert} not firing`,
      ).toBe(true);
      expect(
        mine.some((c) => /exp_alerts:\s*\n\s+- exp_labels/.test(c)),
        `${alert} firing`,
      ).toBe(true);
    }
  });

  it('every alert links its runbook, which says what it means, how to confirm and how to fix', () => {
    const rules = readFileSync(RULES, 'utf8');
    for (const alert of alerts) {
      expect(rules).toContain(`runbook_url: docs/runbooks/${alert}.md`);
      const runbook = path.join(ROOT, 'docs/runbooks', `${alert}.md`);
      expect(existsSync(runbook), runbook).toBe(true);
      const text = readFileSync(runbook, 'utf8');
      for (const part of ['**What it means.**', '**Confirm.**', '**Fix.**']) {
        expect(text, `${alert}: ${part}`).toContain(part);
      }
    }
  });
});
