/**
 * `raw-threads` — the best hand-written alternative: one plain
 * `worker_threads` Worker per model instance, each loading the model once at
 * start (see `raw.worker.ts`), a request-id protocol, outputs transferred
 * back. The batch reaches every worker once, as a `SharedArrayBuffer` view in
 * `workerData`.
 */
import { once } from "node:events"
import { Worker } from "node:worker_threads"
import type { ModelSetup, ModelVariant } from "./variant.ts"

type Reply = readonly [id: number, failed: 0 | 1, value: unknown]

interface Pending {
  readonly resolve: (output: Float32Array) => void
  readonly reject: (error: unknown) => void
}

const script = new URL("./raw.worker.ts", import.meta.url)

/** One worker, started and loaded. */
const spawn = async (index: number, setup: ModelSetup) => {
  const worker = new Worker(script, { workerData: setup })
  const pending = new Map<number, Pending>()
  let nextId = 0
  let failure: Error | undefined
  const failAll = (error: Error) => {
    failure ??= error
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  worker.on("error", failAll)
  worker.on("exit", (code) => failAll(new Error(`raw-threads model ${index} exited with code ${code}`)))
  const [first] = await Promise.race([once(worker, "message"), once(worker, "exit").then(() => [failure])]) as [unknown]
  if (first !== "ready") {
    await worker.terminate()
    throw new Error(`raw-threads model ${index} did not start: ${Array.isArray(first) ? String(first[1]) : String(first)}`)
  }
  worker.on("message", ([id, failed, value]: Reply) => {
    const p = pending.get(id)
    if (p === undefined) return
    pending.delete(id)
    if (failed === 0) p.resolve(value as Float32Array)
    else p.reject(new Error(`raw-threads model ${index}: ${String(value)}`))
  })
  const predict = (): Promise<Float32Array> =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) return reject(failure)
      const id = nextId++
      pending.set(id, { resolve, reject })
      worker.postMessage(id)
    })
  return { worker, predict }
}

const raw: ModelVariant = {
  name: "raw-threads",
  config: "one worker_threads Worker per instance, model loaded at worker start, request ids, outputs transferred",
  setup: async (workers, setup) => {
    const started = await Promise.allSettled(Array.from({ length: workers }, (_, i) => spawn(i, setup)))
    const actors = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : [])
    const failed = started.find((s) => s.status === "rejected")
    if (failed !== undefined) {
      await Promise.all(actors.map((a) => a.worker.terminate()))
      throw failed.reason
    }
    return {
      instances: workers,
      round: () => Promise.all(actors.map((a) => a.predict())),
      close: async () => {
        await Promise.all(actors.map((a) => a.worker.terminate()))
      }
    }
  }
}

export const variants: ReadonlyArray<ModelVariant> = [raw]
