// Every string, bytes, list and map field of every request a client sends has a written limit,
// and the user guide's table states the same numbers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScalarType, create, type DescMessage } from '@bufbuild/protobuf';
import { JobService, QueueJobRequestSchema } from '../gen/hodei/v1/job_pb.js';
import { OpsService } from '../gen/hodei/v1/ops_pb.js';
import { WorkerAgentService } from '../gen/hodei/v1/worker_pb.js';
import { REQUEST_LIMITS, checkRequestLimits, type FieldLimit } from './request-limits.js';

const CLIENT_METHODS = [
  ...JobService.methods,
  ...OpsService.methods,
  ...WorkerAgentService.methods.filter((m) => m.name === 'Register'),
];

function limitedFields(desc: DescMessage, seen = new Set<string>()): string[] {
  if (seen.has(desc.typeName) || !desc.typeName.startsWith('hodei.')) return [];
  seen.add(desc.typeName);
  const names: string[] = [];
  for (const field of desc.fields) {
    const kind = field.fieldKind;
    if (kind === 'list' || kind === 'map') names.push(`${desc.typeName}.${field.name}`);
    if (
      kind === 'scalar' &&
      (field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES)
    ) {
      names.push(`${desc.typeName}.${field.name}`); // STRING, BYTES
    }
    if (kind === 'message') names.push(...limitedFields(field.message, seen));
    if (kind === 'list' && field.listKind === 'message') {
      names.push(...limitedFields(field.message, seen));
    }
  }
  return names;
}

function cell(limit: FieldLimit): string {
  if (limit.key !== undefined) {
    return `${limit.max} entries; keys ≤ ${limit.key}, values ≤ ${limit.value} characters`;
  }
  if (limit.item !== undefined) return `${limit.max} entries, each ≤ ${limit.item} characters`;
  return '';
}

describe('request limits', () => {
  const fields = [...new Set(CLIENT_METHODS.flatMap((m) => limitedFields(m.input)))];

  it('has a limit for every string, list and map a client can send, and no stale entry', () => {
    expect(fields.filter((f) => !REQUEST_LIMITS[f])).toEqual([]);
    expect(Object.keys(REQUEST_LIMITS).filter((f) => !fields.includes(f))).toEqual([]);
  });

  it('is the table in the user guide', () => {
    const guide = readFileSync(new URL('../../docs/user-guide.md', import.meta.url), 'utf8');
    for (const [name, limit] of Object.entries(REQUEST_LIMITS)) {
      const short = name.replace(/^hodei\.v1\./, '');
      const cells = guide
        .split('\n')
        .map((line) => line.split('|').map((c) => c.trim()))
        .find((row) => row[1] === `\`${short}\``);
      expect(cells, `a row for ${short}`).toBeDefined();
      const most = cells?.[2];
      const kind = name.endsWith('states') || name.endsWith('.jobs') ? 'entries' : 'characters';
      expect(most).toBe(cell(limit) || `${limit.max} ${kind}`);
    }
  });

  it('names the field a NUL, invalid UTF-8 or an over-long value is in', () => {
    const spec = (over: { name?: string; args?: string[]; labels?: Record<string, string> }) =>
      create(QueueJobRequestSchema, { spec: { command: 'echo', ...over } });
    const check = (message: ReturnType<typeof spec>) => () =>
      checkRequestLimits(QueueJobRequestSchema, message);
    expect(check(spec({ name: 'a\0' }))).toThrow(/^spec\.name: must not contain NUL/);
    expect(check(spec({ args: ['ok', 'x\uFFFD'] }))).toThrow(
      /^spec\.args\[1\]: is not valid UTF-8/,
    );
    expect(check(spec({ labels: { k: 'v'.repeat(257) } }))).toThrow(
      /^spec\.labels\.k: is 257 characters; at most 256 allowed \(starts "v{32}"…\)$/,
    );
    expect(check(spec({ args: Array.from({ length: 1001 }, () => '') }))).toThrow(
      /^spec\.args: has 1001 entries; at most 1000/,
    );
    expect(check(spec({ name: 'build #1 ✓' }))).not.toThrow();
    const secret = create(QueueJobRequestSchema, {
      spec: { command: 'echo', secrets: { TOKEN: `hunter2${'x'.repeat(65_536)}` } },
    });
    expect(() => checkRequestLimits(QueueJobRequestSchema, secret)).toThrow(
      /^spec\.secrets\.TOKEN: is 65543 characters; at most 65536 allowed$/,
    );
  });
});
