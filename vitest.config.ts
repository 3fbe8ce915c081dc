import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Worker-thread tests spawn their own threads; two test files at a time fit a 2-core machine.
    maxWorkers: 2
  }
})
