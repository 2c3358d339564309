// Output batching: bytes kept exactly, same-pipe reads joined, chunk and batch sizes bounded.
import { describe, expect, it } from 'vitest';
import { createOutputBatcher, type Chunk } from './output-batcher.js';

function collect(options: Parameters<typeof createOutputBatcher>[1] = {}) {
  const batches: Chunk[][] = [];
  const sizes: number[] = [];
  const batcher = createOutputBatcher(
    (chunks, bytes) => {
      batches.push(chunks);
      sizes.push(bytes);
    },
    { delayMs: 10_000, ...options },
  );
  return { batcher, batches, sizes };
}

const text = (chunks: Chunk[]) => chunks.map((c) => `${c.stream}:${c.data.toString()}`);

describe('createOutputBatcher', () => {
  it('joins reads of one pipe into one chunk and keeps the order of the two pipes', () => {
    const { batcher, batches } = collect();
    batcher.add('stdout', Buffer.from('a'));
    batcher.add('stdout', Buffer.from('b\nc'));
    batcher.add('stderr', Buffer.from('err'));
    batcher.add('stdout', Buffer.from('d'));
    batcher.flush();
    expect(batches.map(text)).toEqual([['stdout:ab\nc', 'stderr:err', 'stdout:d']]);
  });

  it('keeps bytes that are not UTF-8 as they are', () => {
    const { batcher, batches } = collect();
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3]);
    batcher.add('stdout', bytes);
    batcher.flush();
    expect(Buffer.compare(batches[0]![0]!.data, bytes)).toBe(0);
  });

  it('cuts chunks at maxChunkBytes and sends a batch once it holds maxBatchBytes', () => {
    const { batcher, batches, sizes } = collect({ maxChunkBytes: 4, maxBatchBytes: 10 });
    batcher.add('stdout', Buffer.from('0123456789abcdefghijklmnopqrstuvwxy'));
    expect(sizes).toEqual([10, 10, 10]);
    batcher.flush();
    expect(sizes).toEqual([10, 10, 10, 5]);
    const all = batches.flat();
    expect(all.every((c) => c.data.length <= 4)).toBe(true);
    expect(Buffer.concat(all.map((c) => c.data)).toString()).toBe(
      '0123456789abcdefghijklmnopqrstuvwxy',
    );
  });

  it('sends after the delay without a flush, and discard drops what waits', async () => {
    const { batcher, batches } = collect({ delayMs: 5 });
    batcher.add('stdout', Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 30));
    expect(batches.map(text)).toEqual([['stdout:x']]);
    batcher.add('stdout', Buffer.from('y'));
    batcher.discard();
    await new Promise((r) => setTimeout(r, 30));
    expect(batches).toHaveLength(1);
  });
});
