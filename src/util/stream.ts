/** Passes a stream through and runs `close` once it is consumed, fails, or is abandoned. */
export async function* closing<T>(items: AsyncIterable<T>, close: () => Promise<void>): AsyncGenerator<T> {
  try {
    yield* items;
  } finally {
    await close();
  }
}

/** Passes a stream through and calls `seen` before its first item, and when it ends, fails or is abandoned (`seen` must bear repeated calls). */
export async function* beforeFirst<T>(items: AsyncIterable<T>, seen: () => void): AsyncGenerator<T> {
  try {
    for await (const item of items) {
      seen();
      yield item;
    }
  } finally {
    seen();
  }
}
