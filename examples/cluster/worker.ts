/**
 * The cluster example's worker entry: runs in a worker thread of each runner's pool.
 */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { SiteTasks } from "./actors.ts"

export default Worker.serve(SiteTasks, {
  PageCounter: ({ page, restored }) =>
    Effect.sync(() => {
      let visits = restored?.visits ?? 0
      return {
        visit: () => Effect.sync(() => ({ page, visits: ++visits })),
        state: () => Effect.succeed({ page, visits }),
        runner: () => Effect.succeed(process.pid)
      }
    }),
  Collatz: ({ n }) =>
    Effect.sync(() => {
      let steps = 0
      for (let x = n; x !== 1; x = x % 2 === 0 ? x / 2 : 3 * x + 1) steps++
      return { steps, runner: process.pid }
    })
})
