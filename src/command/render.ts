import { Readable, Writable } from 'node:stream';
import type { Context, OutputStream } from '../context.js';
import type { AnyCommand } from './definition.js';

/**
 * Rendering: exactly one of the command's forms reaches stdout: the --json document, the ink view on a TTY, or
 * plain text for pipes.
 */
export interface RenderContext {
  now: Date;
  color: boolean;
  columns: number;
}

export type TextOutput = string | AsyncIterable<string | Uint8Array>;

/** A JSON rendering that is already text (a large document streamed in chunks): written as is. */
export class RawJson {
  constructor(readonly chunks: AsyncIterable<string | Uint8Array>) {}
}

export async function renderResult(definition: AnyCommand, result: unknown, ctx: Context): Promise<void> {
  const { stdout } = ctx.io;
  const { signal } = ctx;
  const render: RenderContext = { now: ctx.clock.now(), color: ctx.output.color, columns: stdout.columns ?? 80 };
  if (ctx.output.json) {
    const document = definition.json ? definition.json(result) : result;
    if (document instanceof RawJson) {
      await writeAll(stdout, document.chunks, signal);
      return;
    }
    if (isAsyncIterable(document)) {
      await writeAll(stdout, lines(document), signal);
    } else {
      await write(stdout, `${JSON.stringify(document, null, 2)}\n`);
    }
    return;
  }
  const view = ctx.output.stdoutIsTTY && definition.view ? await definition.view(result, render) : undefined;
  if (view !== undefined && view !== null) {
    const [{ renderToString }, { stripVTControlCharacters }] = await Promise.all([import('ink'), import('node:util')]);
    const rendered = renderToString(view, { columns: render.columns });
    await write(stdout, `${render.color ? rendered : stripVTControlCharacters(rendered)}\n`);
    return;
  }
  const text = definition.text(result, render);
  if (typeof text === 'string') {
    if (text !== '') await write(stdout, text.endsWith('\n') ? text : `${text}\n`);
    return;
  }
  await writeAll(stdout, text, signal);
}

async function* lines(items: AsyncIterable<unknown>): AsyncGenerator<string> {
  for await (const item of items) yield `${JSON.stringify(item)}\n`;
}

/**
 * Writes a stream until it ends or the command is aborted (Ctrl-C, or stdout's reader went away): leaving the
 * loop closes the source, which stops the work behind it (a query is cancelled on the server).
 */
async function writeAll(stream: OutputStream, chunks: AsyncIterable<string | Uint8Array>, signal: AbortSignal): Promise<void> {
  if (chunks instanceof Readable) return pipeOut(stream, chunks, signal);
  for await (const chunk of chunks) {
    signal.throwIfAborted();
    await write(stream, chunk, signal);
  }
  signal.throwIfAborted();
}

/**
 * A Node stream (a query's answer) written to stdout chunk by chunk as it flows, with backpressure (a write that
 * is not accepted pauses the source until 'drain'), stdout left open. Not stream.pipeline: its pipe() cannot tell
 * the source when a chunk has been written, which a source that reuses its buffers needs; and not `for await`,
 * whose reads join buffered chunks into new ones. On an abort or a failed write the source is destroyed, and its
 * close is awaited either way: a source that stops work behind it (a query cancelled on the server) closes once
 * that is done. A source may fail after its last byte (a trailing server exception): that failure is read from
 * `errored` when it closes.
 */
export async function pipeOut(stdout: OutputStream, source: Readable, signal: AbortSignal): Promise<void> {
  const closed = new Promise<void>((resolve) => (source.closed ? resolve() : source.once('close', () => resolve())));
  source.on('error', () => undefined);
  // A source that reuses its buffers (ResultStream) learns when stdout is done with each one; only a real stream
  // says so (its write callback): any other may still hold the chunk.
  const release = stdout instanceof Writable ? (source as Readable & { release?: (chunk: Uint8Array) => void }).release?.bind(source) : undefined;
  let aborted: (() => void) | undefined;
  try {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      aborted = () => reject(asError(signal.reason));
      signal.addEventListener('abort', aborted, { once: true });
      source.on('data', (chunk: string | Uint8Array) => {
        const accepted = release && typeof chunk !== 'string' ? (stdout as Writable).write(chunk, () => release(chunk)) : stdout.write(chunk);
        if (accepted || !stdout.once) return;
        source.pause();
        stdout.once('drain', () => source.resume());
      });
      source.once('end', resolve);
      // destroyed before its end (a failure, or a cut): what went wrong, if anything, is in `errored`
      source.once('close', resolve);
    });
  } catch (error) {
    source.destroy();
    await closed;
    signal.throwIfAborted();
    throw source.errored ?? error;
  } finally {
    if (aborted) signal.removeEventListener('abort', aborted);
  }
  await closed;
  signal.throwIfAborted();
  if (source.errored) throw source.errored;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

/** Writes with backpressure so streamed results keep memory flat; a closed stdout never drains, so an abort ends the wait. */
async function write(stream: OutputStream, chunk: string | Uint8Array, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  if (stream.write(chunk) || !stream.once) return;
  await new Promise<void>((resolve, reject) => {
    const aborted = () => reject(asError(signal!.reason));
    signal?.addEventListener('abort', aborted, { once: true });
    stream.once!('drain', () => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    });
  });
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** Tab-separated rows for pipes; columns never contain tabs or newlines. */
export function tsv(rows: readonly (readonly unknown[])[]): string {
  return rows.map((row) => row.map((cell) => formatCell(cell).replace(/[\t\n]/g, ' ')).join('\t')).join('\n');
}

function formatCell(cell: unknown): string {
  if (cell === undefined || cell === null) return '';
  if (cell instanceof Date) return cell.toISOString();
  if (typeof cell === 'object') return JSON.stringify(cell);
  return String(cell);
}
