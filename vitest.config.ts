import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // test/chdb/node_modules holds a 540 MB engine with its own sources: never collect tests from it.
    exclude: [...configDefaults.exclude, 'test/chdb/node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
