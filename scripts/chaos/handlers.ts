/**
 * The chaos soak's handlers and per-worker Layer, shared by its two entries (`worker.ts`,
 * `worker-shared.ts`).
 *
 * Every `Work` task first appends its id to the run log (4 bytes, one `write` with `O_APPEND`):
 * the harness counts runs per task from it, independently of the pool. In the harness's own
 * process (threads, inline) it writes to a descriptor the harness opened (`$EP_CHAOS_RUNS_FD`),
 * so a terminated thread never leaves one open; elsewhere it appends to `$EP_CHAOS_RUNS`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { appendFileSync, writeSync } from "node:fs"
import { Actor, Worker } from "../../src/worker.ts"
import { initFate, type InitPlan, Refused, Tally, type Work } from "./tasks.ts"

const runsFd = Number(process.env.EP_CHAOS_PID) === process.pid ? Number(process.env.EP_CHAOS_RUNS_FD) : undefined
const runsPath = process.env.EP_CHAOS_RUNS

const logRun = (id: number): void => {
  const record = new Uint8Array(new Int32Array([id]).buffer)
  if (runsFd !== undefined && Number.isInteger(runsFd)) writeSync(runsFd, record)
  else if (runsPath !== undefined) appendFileSync(runsPath, record)
}

/** Keeps allocating until the worker's heap limit ends it. */
const exhaustMemory = (): never => {
  const hog: Array<Array<number>> = []
  for (;;) hog.push(new Array<number>(1_000_000).fill(1.5))
}

export const work = ({ id, kind, millis }: typeof Work.payload.Type) =>
  Effect.suspend(() => {
    logRun(id)
    switch (kind) {
      case "quick":
        return Effect.succeed(id)
      case "sleep":
        return Effect.as(Effect.sleep(millis), id)
      case "spin":
        return Effect.sync(() => {
          const end = Date.now() + millis
          while (Date.now() < end) {
            // blocks its thread: only terminating the worker stops it
          }
          return id
        })
      case "fail":
        return Effect.fail(new Refused({ id }))
      case "defect":
        return Effect.sync((): number => {
          throw new RangeError(`chaos defect in task ${id}`)
        })
      case "oom":
        return Effect.sync(exhaustMemory)
      case "exit":
        return Effect.sync(() => process.exit(7))
    }
  })

let instances = 0

export const tally = Actor.implement(Tally, ({ key }) =>
  Effect.gen(function*() {
    const { id } = yield* Worker.WorkerInfo
    const instance = `${key}@${id}#${++instances}`
    let count = 0
    return {
      bump: ({ millis }) => Effect.andThen(Effect.sleep(millis), Effect.sync(() => ({ instance, count: ++count, workerId: id })))
    }
  }))

/** The start-up faults of the plan in `$EP_CHAOS_INIT`: this worker fails, hangs, or starts. */
export const ChaosInit = Layer.effectDiscard(
  Effect.gen(function*() {
    const { id } = yield* Worker.WorkerInfo
    const text = process.env.EP_CHAOS_INIT
    if (text === undefined) return
    const fate = initFate(JSON.parse(text) as InitPlan, id)
    if (fate === "fail") return yield* Effect.fail(new Error(`chaos: worker ${id} fails to start`))
    if (fate === "hang") return yield* Effect.never
  })
)
