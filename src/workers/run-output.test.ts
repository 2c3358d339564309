// The per-attempt output limit: kept byte for byte up to it, counted past it, one marker line.
import { describe, expect, it } from 'vitest';
import { createRunOutput } from './run-output.js';

const run = { jobId: 'j', attempt: 1, correlationId: 'c' };
const chunk = (text: string, stream: 'stdout' | 'stderr' = 'stdout') => ({
  stream,
  data: Buffer.from(text),
  at: new Date(0),
});

describe('run output limit', () => {
  it('keeps everything under the limit and has no marker', () => {
    const output = createRunOutput(run, 10);
    const { keep, dropped } = output.admit([chunk('abc'), chunk('def', 'stderr')]);
    expect(keep.map((c) => Buffer.from(c.data).toString())).toEqual(['abc', 'def']);
    expect(dropped).toBe(0);
    expect(output.takeMarker()).toBeUndefined();
  });

  it('cuts the chunk that crosses the limit and drops what follows, counting every byte', () => {
    const output = createRunOutput(run, 5);
    const first = output.admit([chunk('abc'), chunk('defg')]);
    expect(first.keep.map((c) => Buffer.from(c.data).toString())).toEqual(['abc', 'de']);
    expect(first.dropped).toBe(2);
    const second = output.admit([chunk('hijkl')]);
    expect(second.keep).toEqual([]);
    expect(output.droppedBytes).toBe(7);
    expect(output.storedBytes).toBe(5);
  });

  it('writes one marker line on stderr naming the bytes dropped, on a line of its own', () => {
    const output = createRunOutput(run, 64 * 1024 * 1024);
    output.admit([chunk('x'.repeat(64 * 1024 * 1024)), chunk('tail')]);
    const marker = output.takeMarker();
    expect(marker?.stream).toBe('stderr');
    expect(Buffer.from(marker!.data).toString()).toBe(
      '\n… 4 bytes dropped (output passed the limit of 64 MiB per attempt)\n',
    );
    expect(output.takeMarker()).toBeUndefined();
  });

  it('refund gives back room for chunks that were not stored', () => {
    const output = createRunOutput(run, 4);
    output.admit([chunk('abcd')]);
    output.refund(4);
    expect(output.admit([chunk('wxyz')]).dropped).toBe(0);
  });
});
