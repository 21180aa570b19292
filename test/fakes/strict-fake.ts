import { expect } from 'vitest';

/**
 * A fake that implements only the methods a test stubs. Calling anything else fails loudly, and
 * `assertAllCalled()` fails when a stub was never used: a stub nobody calls means the test is not
 * exercising what it claims to.
 */
export function strictFake<T extends object>(stubs: Partial<T>, name = 'fake'): T & { assertAllCalled(): void; calls: Record<string, unknown[][]> } {
  const calls: Record<string, unknown[][]> = {};
  const target = { calls, assertAllCalled() {
    const unused = Object.keys(stubs).filter((key) => !calls[key]?.length);
    expect(unused, `${name}: stubs never called`).toEqual([]);
  } };
  return new Proxy(target, {
    get(object, property) {
      if (property in object) return (object as Record<string | symbol, unknown>)[property];
      if (typeof property === 'symbol' || property === 'then') return undefined;
      const stub = (stubs as Record<string, unknown>)[property];
      if (stub === undefined) throw new Error(`${name}.${property} was called but not stubbed`);
      if (typeof stub !== 'function') return stub;
      return (...args: unknown[]) => {
        (calls[property] ??= []).push(args);
        return (stub as (...a: unknown[]) => unknown)(...args);
      };
    },
  }) as T & { assertAllCalled(): void; calls: Record<string, unknown[][]> };
}
