// Groups what a job writes into batches of chunks: bytes read from the same pipe one after the
// other are joined into one chunk (up to MAX_CHUNK_BYTES), and a batch is sent once it holds
// MAX_BATCH_BYTES or BATCH_DELAY_MS after its first byte, and on demand before a result. Bytes are
// never split into lines or decoded here: output is kept exactly as written.
export type OutputStream = 'stdout' | 'stderr';

export interface Chunk {
  stream: OutputStream;
  data: Buffer;
  at: Date;
}

export interface OutputBatcher {
  add(stream: OutputStream, data: Buffer): void;
  /** Sends what is waiting now (before a result, which must come after every byte). */
  flush(): void;
  /** Drops what is waiting and stops the timer (the agent is going away). */
  discard(): void;
}

/** One stored row at most; the server's pages and a reader's memory are sized in these. */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** One stream message at most (the server accepts up to 4 MiB). */
export const MAX_BATCH_BYTES = 256 * 1024;
/** How long the first byte of a batch may wait for more: output stays live to a watcher. */
export const BATCH_DELAY_MS = 20;

export function createOutputBatcher(
  send: (chunks: Chunk[], bytes: number) => void,
  options: { maxChunkBytes?: number; maxBatchBytes?: number; delayMs?: number } = {},
): OutputBatcher {
  const maxChunk = options.maxChunkBytes ?? MAX_CHUNK_BYTES;
  const maxBatch = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  const delayMs = options.delayMs ?? BATCH_DELAY_MS;
  let chunks: Chunk[] = [];
  // Pieces of the last chunk not yet joined (joined once, when the chunk is complete).
  let open: { stream: OutputStream; pieces: Buffer[]; bytes: number; at: Date } | undefined;
  let batchBytes = 0;
  let timer: NodeJS.Timeout | undefined;

  function close(): void {
    if (!open) return;
    const data = open.pieces.length === 1 ? open.pieces[0]! : Buffer.concat(open.pieces);
    chunks.push({ stream: open.stream, data, at: open.at });
    open = undefined;
  }

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    close();
    if (chunks.length === 0) return;
    const out = chunks;
    const bytes = batchBytes;
    chunks = [];
    batchBytes = 0;
    send(out, bytes);
  }

  function add(stream: OutputStream, data: Buffer): void {
    let rest = data;
    while (rest.length > 0) {
      if (open && (open.stream !== stream || open.bytes >= maxChunk)) close();
      open ??= { stream, pieces: [], bytes: 0, at: new Date() };
      const room = Math.min(maxChunk - open.bytes, maxBatch - batchBytes);
      const piece = rest.length <= room ? rest : rest.subarray(0, room);
      open.pieces.push(piece);
      open.bytes += piece.length;
      batchBytes += piece.length;
      rest = rest.subarray(piece.length);
      if (batchBytes >= maxBatch) flush();
    }
    if (batchBytes > 0) timer ??= setTimeout(flush, delayMs);
  }

  return {
    add,
    flush,
    discard() {
      clearTimeout(timer);
      timer = undefined;
      chunks = [];
      open = undefined;
      batchBytes = 0;
    },
  };
}
