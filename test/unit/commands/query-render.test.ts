/**
 * How a query's streamed answer (a ResultStream) reaches stdout through src/command/render.ts: with backpressure
 * on a slow real Writable, its coalescing buffers reused only once written, a failure after the last byte
 * reported after every row, and an abort that waits until the query behind the stream is over.
 */
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { defineCommand, renderResult } from '../../../src/command.js';
import { ResultStream } from '../../../src/clickhouse/result-stream.js';
import { testContext } from '../../fakes/context.js';

const passthrough = defineCommand({
  async run() {
    return null;
  },
  text: (result: Readable) => result,
});

/** A stdout that takes each write `delayMs` to complete, keeping a copy of what it got as it completes. */
function slowStdout(delayMs: number) {
  const state = { text: '', buffers: new Set<ArrayBufferLike>(), maxBuffered: 0, writes: 0 };
  const stdout = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      state.writes++;
      state.buffers.add(chunk.buffer);
      state.maxBuffered = Math.max(state.maxBuffered, stdout.writableLength);
      // copied when the write completes: a buffer reused before that would show as corrupt output
      setTimeout(() => {
        state.text += chunk.toString();
        callback();
      }, delayMs);
    },
  });
  return { stdout, state };
}

/** Lines `0\n` .. `count-1\n`, `perChunk` lines a turn, in pieces of 10 lines. */
function numbers(count: number, perChunk: number) {
  let next = 0;
  let pulled = 0;
  const source = new Readable({
    read() {
      if (next >= count) return void this.push(null);
      pulled++;
      const lines: string[] = [];
      for (let index = 0; index < perChunk && next < count; index++) lines.push(`${next++}\n`);
      // a few small pieces per turn, as a socket hands over several TLS records at once
      setImmediate(() => {
        for (let start = 0; start < lines.length; start += 10) this.push(lines.slice(start, start + 10).join(''));
      });
    },
  });
  return { source, pulled: () => pulled, expected: () => Array.from({ length: count }, (_, index) => `${index}\n`).join('') };
}

describe('a streamed answer reaches stdout', () => {
  it('with backpressure on a slow stdout, every byte in order, its buffers reused only once written', async () => {
    // Given an answer of 200000 lines (several coalescing buffers) in small chunks and a stdout that takes 1 ms per write
    const { stdout, state } = slowStdout(1);
    const { ctx } = testContext();
    ctx.io.stdout = stdout;
    const answer = numbers(200_000, 500);
    const stream = new ResultStream({ headerLines: 0, maxRows: 0, onTruncated: () => undefined });
    answer.source.pipe(stream);
    // When it is rendered
    await renderResult(passthrough, stream, ctx);
    await new Promise((resolve) => stdout.end(resolve));
    // Then stdout got exactly the answer (no buffer was overwritten before its write completed)
    expect(state.text === answer.expected()).toBe(true);
    // And stdout never held more than about one chunk: the source waited for it
    expect(state.maxBuffered).toBeLessThan(256 * 1024);
    // And the coalescing buffers were reused, not one new buffer per write
    expect(state.writes).toBeGreaterThan(10);
    expect(state.buffers.size).toBeLessThan(state.writes / 2);
  });

  it('fails after every row when the server failed after its last row', async () => {
    // Given an answer whose last line is an 18.x exception
    const { ctx, stdout } = testContext();
    const stream = new ResultStream({ headerLines: 1, maxRows: 0, onTruncated: () => undefined });
    Readable.from([Buffer.from('n\n1\n2\n'), Buffer.from('Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, e.what() = DB::Exception\n')]).pipe(stream);
    // When it is rendered, Then the rows print and the exception is the error (exit 5), not data
    await expect(renderResult(passthrough, stream, ctx)).rejects.toMatchObject({ exitCode: 5 });
    expect(stdout.text).toBe('n\n1\n2\n');
  });

  it('on Ctrl-C, ends with the abort only once the query behind the stream is over', async () => {
    // Given an endless answer whose query takes 50 ms to cancel
    const controller = new AbortController();
    const { ctx } = testContext({ signal: controller.signal });
    const events: string[] = [];
    const stream = new ResultStream({ headerLines: 0, maxRows: 0, onTruncated: () => undefined });
    stream.attach({
      stop: () => void events.push('stop'),
      settle: async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        events.push('cancelled');
      },
    });
    numbers(Number.MAX_SAFE_INTEGER, 10).source.pipe(stream);
    // When the engineer presses Ctrl-C while it streams
    const rendering = renderResult(passthrough, stream, ctx).catch((error: unknown) => {
      events.push('rejected');
      throw error;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new DOMException('interrupted', 'AbortError'));
    // Then the render fails with the abort, after the cancellation finished
    await expect(rendering).rejects.toMatchObject({ name: 'AbortError' });
    expect(events.slice(-2)).toEqual(['cancelled', 'rejected']);
  });
});
