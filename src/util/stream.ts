/** Passes a stream through and runs `close` once it is consumed, fails, or is abandoned. */
export async function* closing<T>(items: AsyncIterable<T>, close: () => Promise<void>): AsyncGenerator<T> {
  try {
    yield* items;
  } finally {
    await close();
  }
}
