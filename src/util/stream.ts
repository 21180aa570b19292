/** Passes a stream through and runs `close` once it is consumed, fails, or is abandoned. */
export async function* closing<T>(items: AsyncIterable<T>, close: () => Promise<void>): AsyncGenerator<T> {
  try {
    yield* items;
  } finally {
    await close();
  }
}

/**
 * The abort reason when stdout's reader went away (EPIPE: `byoc query ... | head -1`). The process boundary
 * aborts the command's signal with it; the command then stops reading (which cancels a query on the server) and
 * ends quietly with exit 0, as a Unix filter does.
 */
export class ConsumerGone extends Error {
  constructor() {
    super('the reader of stdout went away');
    this.name = 'AbortError';
  }
}

/**
 * All of a stream that byoc holds in memory (an answer, a request body), or undefined as soon as it passes
 * `maxBytes`: the caller then refuses it, and destroys the stream when nothing more is to be said on it.
 */
export async function readAtMost(source: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
