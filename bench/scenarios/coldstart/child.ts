/**
 * One cold-start sample, in a process of its own: starts a one-worker pool (or a bare thread) and
 * prints, as JSON, the milliseconds from asking for it to its worker being ready, and the first
 * round trip after that.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Worker } from "node:worker_threads"
import { Task, WorkerPool } from "effect-parallel"

const variant = process.argv[2]

const bare = async () => {
  const start = performance.now()
  const worker = new Worker(new URL("./bare.worker.ts", import.meta.url))
  await new Promise((resolve) => worker.once("message", resolve))
  const readyMillis = performance.now() - start
  await worker.terminate()
  return { readyMillis, firstCallMillis: 0 }
}

const pool = async (kind: "full" | "light") => {
  const { ColdTasks, Ping } = await import(`./tasks.${kind}.ts`) as typeof import("./tasks.full.ts")
  const layer = WorkerPool.layer(ColdTasks, { entry: new URL(`./worker.${kind}.ts`, import.meta.url), size: 1 })
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const start = performance.now()
    const context = yield* Layer.build(layer)
    const readyMillis = performance.now() - start
    const callStart = performance.now()
    yield* Task.run(Ping, { n: 1 }).pipe(Effect.provideContext(context))
    return { readyMillis, firstCallMillis: performance.now() - callStart }
  })))
}

const result = variant === "bare" ? await bare() : await pool(variant === "light" ? "light" : "full")
process.stdout.write(JSON.stringify(result) + "\n")
