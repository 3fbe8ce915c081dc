/**
 * `raw-threads` — the best hand-written alternative: one plain
 * `worker_threads` Worker per counter (the post's one actor per core), a
 * four-message protocol with request ids (see `raw.worker.ts`), no library.
 * Documents travel as flat strings (one memcpy each in structured clone), all
 * calls are pipelined, and per-worker message order gives per-counter order.
 */
import { Worker } from "node:worker_threads"
import type { CounterKind } from "../../../src/workloads/prefixCount.ts"
import type { StatefulHandle, StatefulVariant } from "./variant.ts"

/** `[id, op, arg]`; `arg` is the document for `add`, the prefix for `count`. */
export type Request =
  | readonly [id: number, op: "reset" | "popular", arg: null]
  | readonly [id: number, op: "add" | "count", arg: string]

type Reply = readonly [id: number, failed: 0 | 1, value: unknown]

interface Pending {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

const script = new URL("./raw.worker.ts", import.meta.url)

/** One worker and the calls in flight to it. */
const spawn = (index: number, counter: CounterKind) => {
  const worker = new Worker(script, { workerData: { counter } })
  const pending = new Map<number, Pending>()
  let nextId = 0
  let failure: Error | undefined
  const failAll = (error: Error) => {
    failure ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  worker.on("message", ([id, failed, value]: Reply) => {
    const p = pending.get(id)
    if (p === undefined) return
    pending.delete(id)
    if (failed === 0) p.resolve(value)
    else p.reject(new Error(`raw-threads counter ${index}: ${String(value)}`))
  })
  worker.on("error", failAll)
  worker.on("exit", (code) => failAll(new Error(`raw-threads counter ${index} exited with code ${code}`)))
  const call = <A>(op: Request[1], arg: string | null): Promise<A> =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) return reject(failure)
      const id = nextId++
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      worker.postMessage([id, op, arg])
    })
  return { worker, call }
}

const raw: StatefulVariant = {
  name: "raw-threads",
  config: "one worker_threads Worker per counter, request-id protocol, all calls pipelined",
  setup: async (workers, counter) => {
    const actors = Array.from({ length: workers }, (_, i) => spawn(i, counter))
    const actor = (counter: number) => {
      const a = actors[counter]
      if (a === undefined) throw new RangeError(`raw-threads: no counter ${counter}`)
      return a
    }
    const handle: StatefulHandle = {
      counters: workers,
      reset: async () => {
        await Promise.all(actors.map((a) => a.call("reset", null)))
      },
      add: (counter, document) => actor(counter).call("add", document),
      popular: (counter) => actor(counter).call("popular", null),
      count: (counter, prefix) => actor(counter).call("count", prefix),
      close: async () => {
        await Promise.all(actors.map((a) => a.worker.terminate()))
      }
    }
    // Ready once every worker has imported the workload and answered.
    await handle.reset()
    return handle
  }
}

export const variants: ReadonlyArray<StatefulVariant> = [raw]
