/**
 * The isolation example's worker entry: a parser that crashes its whole process on a poisoned
 * document, as a native addon with a memory bug would.
 */
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { Worker } from "effect-parallel/worker"
import { IsolationTasks, poison } from "./tasks.ts"

export default Worker.serve(IsolationTasks, {
  Parse: ({ id, text }) =>
    Effect.sync(() => {
      if (text.includes(poison)) process.abort()
      return { id, words: text.split(/\s+/).filter((word) => word !== "").length, pid: process.pid }
    }),
  Where: () =>
    Effect.sync(() => ({
      pid: process.pid,
      cpus: /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "unknown"
    }))
})
