/**
 * `workerpool` — workerpool with thread workers (what `workerType: "auto"`
 * picks on Node anyway) pinned to `workers`, every task submitted at once with
 * `Promise.all` of `pool.exec("add", [a, b])`.
 */
import { fileURLToPath } from "node:url"
import workerpool from "workerpool"
import type { OverheadVariant } from "./variant.ts"

const script = fileURLToPath(new URL("./workerpool.worker.ts", import.meta.url))

const workerpoolVariant: OverheadVariant = {
  name: "workerpool",
  config: "workerType 'thread', minWorkers = maxWorkers = workers, other options default",
  setup: async (workers) => {
    const pool = workerpool.pool(script, { workerType: "thread", minWorkers: workers, maxWorkers: workers })
    // `exec` returns workerpool's own thenable; `Promise.all` would adopt it
    // with `Promise.resolve` anyway, so wrapping here adds no work.
    const exec = (a: number, b: number): Promise<number> => Promise.resolve(pool.exec("add", [a, b]))
    return {
      runBatch: (inputs) => Promise.all(inputs.map(({ a, b }) => exec(a, b))),
      roundTrip: ({ a, b }) => exec(a, b),
      close: async () => {
        await pool.terminate()
      }
    }
  }
}

export const variants: ReadonlyArray<OverheadVariant> = [workerpoolVariant]
