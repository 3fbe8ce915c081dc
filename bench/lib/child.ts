/**
 * Running one variant in its own child process.
 *
 * Peak RSS is a per-process figure (`process.resourceUsage().maxRSS` covers the
 * main thread and every worker thread), so a variant whose memory we want to
 * report must be the only thing its process ever ran. `runInChild` forks the
 * same node binary (`process.execPath`, same `execArgv`) on
 * `child-entry.ts`, which imports `task.module`, awaits
 * `task.export(task.input)` and sends back the value and its own peak RSS.
 *
 * The child then disconnects and must exit by itself: a variant that leaves a
 * pool or worker alive keeps it running. The parent waits `exitGraceMs` for
 * that, then kills it and reports `exitedByItself: false`, so leaked workers
 * show up in the record instead of hanging the run.
 *
 * Wire protocol (child -> parent, exactly one IPC message):
 * `{ _tag: "Done", value, maxRSSKB }` or `{ _tag: "Failed", message, stack }`.
 * The task travels as JSON in `argv[2]`, so `input` and the value must be
 * JSON-serializable.
 */
import { fork } from "node:child_process"

export interface ChildTask {
  /** Module to import in the child: a `file:` URL (use `new URL("./x.ts", import.meta.url)`). */
  readonly module: URL | string
  /** Name of the exported `(input) => Promise<value>` function to call. */
  readonly export: string
  readonly input: unknown
  /** Kill the child and fail after this long (default 10 minutes). */
  readonly timeoutMs?: number
  /** How long the child may take to exit after reporting (default 10 s). */
  readonly exitGraceMs?: number
}

export interface ChildOutcome<A> {
  readonly value: A
  /** The child's own peak resident set size, in MB. */
  readonly peakRssMB: number
  /** Fork to exit, in milliseconds (includes node start-up and imports). */
  readonly wallMs: number
  /** `false` when the child had to be killed because something kept it alive. */
  readonly exitedByItself: boolean
}

/** @internal the message shape sent by `child-entry.ts`. */
export type ChildMessage =
  | { readonly _tag: "Done"; readonly value: unknown; readonly maxRSSKB: number }
  | { readonly _tag: "Failed"; readonly message: string; readonly stack: string | undefined }

export class ChildFailed extends Error {
  override readonly name = "ChildFailed"
}

const entry = new URL("./child-entry.ts", import.meta.url)

export const runInChild = <A>(task: ChildTask): Promise<ChildOutcome<A>> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const timeoutMs = task.timeoutMs ?? 10 * 60_000
    const exitGraceMs = task.exitGraceMs ?? 10_000
    const payload = JSON.stringify({
      module: String(task.module),
      export: task.export,
      input: task.input
    })
    const child = fork(entry, [payload], {
      execPath: process.execPath,
      execArgv: process.execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let message: ChildMessage | undefined
    let killedAfterReport = false
    let settled = false
    const settle = (f: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(overall)
      clearTimeout(grace)
      f()
    }
    let grace: NodeJS.Timeout | undefined
    const overall = setTimeout(() => {
      child.kill("SIGKILL")
      settle(() => reject(new ChildFailed(`${task.export}: timed out after ${timeoutMs} ms`)))
    }, timeoutMs)

    child.on("message", (m) => {
      message = m as ChildMessage
      grace = setTimeout(() => {
        killedAfterReport = true
        child.kill("SIGKILL")
      }, exitGraceMs)
    })
    child.on("error", (error) => {
      settle(() => reject(error))
    })
    child.on("exit", (code, signal) => {
      settle(() => {
        if (message?._tag === "Done") {
          resolve({
            value: message.value as A,
            peakRssMB: Math.round(message.maxRSSKB / 1024),
            wallMs: performance.now() - start,
            exitedByItself: !killedAfterReport
          })
        } else if (message?._tag === "Failed") {
          reject(new ChildFailed(message.stack ?? message.message))
        } else {
          reject(new ChildFailed(`${task.export}: child exited (code ${code}, signal ${signal}) without a result`))
        }
      })
    })
  })
