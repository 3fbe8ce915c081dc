/**
 * `raw/child_process IPC` — the floor for per-task messaging to child processes: plain
 * `child_process.fork` with `serialization: "advanced"` (what `ProcessBackend` uses), no pool
 * library. Every task is its own `send` carrying a request id, round robin, unbounded in flight,
 * replies matched by id: its round trip is the echo our process round trip is held against.
 */
import { type ChildProcess, fork } from "node:child_process"
import type { OverheadVariant } from "./variant.ts"

const script = new URL("./raw-ipc.child.ts", import.meta.url)

interface Pending {
  readonly resolve: (value: number) => void
  readonly reject: (error: unknown) => void
}

const rawIpc: OverheadVariant = {
  name: "raw/child_process IPC",
  config: "child_process.fork, serialization advanced, one send per task, request ids, round robin, unbounded in flight",
  setup: async (workers) => {
    const pending = new Map<number, Pending>()
    let nextId = 0
    let nextChild = 0
    let failure: unknown = undefined
    const failAll = (error: unknown) => {
      failure ??= error
      for (const p of pending.values()) p.reject(error)
      pending.clear()
    }
    const children: Array<ChildProcess> = Array.from({ length: workers }, () => {
      const child = fork(script, { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] })
      child.on("message", ([id, result]: readonly [number, number]) => {
        const p = pending.get(id)
        if (p !== undefined) {
          pending.delete(id)
          p.resolve(result)
        }
      })
      child.on("error", failAll)
      child.on("exit", (code) => {
        if (pending.size > 0) failAll(new Error(`raw child exited with code ${code}`))
      })
      return child
    })
    const call = (a: number, b: number): Promise<number> =>
      new Promise((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        const id = nextId++
        pending.set(id, { resolve, reject })
        children[nextChild]!.send([id, a, b])
        nextChild = (nextChild + 1) % children.length
      })
    return {
      runBatch: (inputs) => Promise.all(inputs.map(({ a, b }) => call(a, b))),
      roundTrip: ({ a, b }) => call(a, b),
      close: async () => {
        await Promise.all(children.map((child) =>
          new Promise<void>((resolve) => {
            child.once("exit", () => resolve())
            child.kill()
          })
        ))
      }
    }
  }
}

export const variants: ReadonlyArray<OverheadVariant> = [rawIpc]
