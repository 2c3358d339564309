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
    expect(output.marker()).toBeUndefined();
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
    const { keep } = output.admit([chunk('x'.repeat(64 * 1024 * 1024)), chunk('tail')]);
    const marker = output.marker();
    expect(marker?.stream).toBe('stderr');
    expect(Buffer.from(marker!.data).toString()).toBe(
      '\n… 4 bytes dropped (output passed the limit of 64 MiB per attempt)\n',
    );
    // The same marker (same part) when asked again: storing it twice stores it once.
    expect(output.marker()).toBe(marker);
    expect(marker?.part).toBe(keep.length);
  });

  it('numbers kept chunks in order and cuts them to the stored chunk size', () => {
    const output = createRunOutput(run, 1024 * 1024);
    const { keep } = output.admit([chunk('a'.repeat(100_000)), chunk('b')]);
    expect(keep.map((c) => [c.part, c.data.length])).toEqual([
      [0, 65_536],
      [1, 100_000 - 65_536],
      [2, 1],
    ]);
    expect(output.admit([chunk('c')]).keep[0]?.part).toBe(3);
  });

  it('refund gives back room for chunks that were not stored', () => {
    const output = createRunOutput(run, 4);
    output.admit([chunk('abcd')]);
    output.refund(4);
    expect(output.admit([chunk('wxyz')]).dropped).toBe(0);
  });
});
