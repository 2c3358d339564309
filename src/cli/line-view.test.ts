// The line view of output chunks: lines across chunks, streams and attempts kept apart, a last
// line without newline, CRLF, and bytes that are not UTF-8.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { LogStream, OutputChunkSchema } from '../gen/hodei/v1/job_pb.js';
import { createLineAssembler } from './line-view.js';

let seq = 0;
const chunk = (data: string | Uint8Array, stream = LogStream.STDOUT, attempt = 1) =>
  create(OutputChunkSchema, {
    seq: BigInt((seq += 1)),
    attempt,
    stream,
    data: typeof data === 'string' ? Buffer.from(data) : data,
  });

describe('line view', () => {
  it('joins a line spread over chunks and keeps empty lines', () => {
    const view = createLineAssembler();
    const lines = [chunk('he'), chunk('llo\n\nwor'), chunk('ld\n')].flatMap((c) => view.push(c));
    expect(lines.map((l) => l.line)).toEqual(['hello', '', 'world']);
    expect(view.end()).toEqual([]);
  });

  it('keeps stdout and stderr lines apart when their chunks interleave', () => {
    const view = createLineAssembler();
    const lines = [chunk('out-'), chunk('err\n', LogStream.STDERR), chunk('line\n')].flatMap((c) =>
      view.push(c),
    );
    expect(lines.map((l) => `${l.stream}:${l.line}`)).toEqual(['stderr:err', 'stdout:out-line']);
  });

  it('ends an attempt with its unfinished line, apart from the next attempt', () => {
    const view = createLineAssembler();
    view.push(chunk('cut short'));
    expect(view.push(chunk('again\n', LogStream.STDOUT, 2)).map((l) => l.line)).toEqual(['again']);
    expect(view.end(1).map((l) => [l.attempt, l.line])).toEqual([[1, 'cut short']]);
  });

  it('drops the CR of CRLF and shows bytes that are not UTF-8 as U+FFFD', () => {
    const view = createLineAssembler();
    const lines = view.push(chunk(new Uint8Array([0x61, 0x0d, 0x0a, 0xff, 0x0a])));
    expect(lines.map((l) => l.line)).toEqual(['a', '\uFFFD']);
  });
});
