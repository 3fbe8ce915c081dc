/**
 * The wire protocol between a pool (the caller's thread) and one worker. Described once, here.
 *
 * Messages are flat arrays with an opcode first, because the structured clone of a flat array is
 * the cheapest message a `MessagePort` carries (a nested array costs ≈ 1.5 µs more per round
 * trip); tasks travel as runs of fields after the opcode, not as objects.
 *
 * Start-up:
 *   worker → pool  `[Ready, initStartedAt?, served?]` once its entry is loaded and its per-worker Layer is
 *                  built (`initStartedAt`: when it began building that Layer, pool-clock ms;
 *                  `served`: the names of the tasks and actors its entry serves), or
 *                  `[InitFailed, remoteError, reason?]` (the pool then terminates it); `reason`, an
 *                  encoded `PoolErrorReason`, when the worker knows why in the pool's terms (its
 *                  entry's definitions use another copy of effect: `DuplicateEffect`). A worker
 *                  that says neither within the pool's `initTimeout` is terminated (`PoolError` /
 *                  `WorkerInitFailed`).
 *
 * Work:
 *   pool → worker  `[Run, id, taskName, payload, timeoutMillis, …]`: several tasks in one
 *                  message (automatic chunking). `payload` is the payload Schema's encoded form;
 *                  `timeoutMillis` is 0 for none; `taskName` is `SameName` when it is the name of
 *                  the task before it in the message. Ids are unique per pool.
 *   worker → pool  `[Results, id, outcome, value, …]`: outcomes of finished tasks, several per
 *                  message. The worker runs its tasks one at a time in arrival order and sends
 *                  results when it runs out of queued work, or every `flushEvery` results, or
 *                  when the oldest unsent result is `flushAfterMillis` old — so a long batch
 *                  reports progress and a short one costs one message.
 *   pool → worker  `[RunTimed, …]`: the same, while an observer wants timings; answered with
 *                  `[ResultsTimed, times, id, outcome, value, …]`: `times` a `Float64Array` of
 *                  each answer's `startedAt, endedAt` in turn (the worker's clock in pool-clock
 *                  milliseconds: `performance.timeOrigin + performance.now()`). One typed array
 *                  a message, not two numbers an answer: each fractional number in a message is
 *                  an allocation where it is written and where it is read.
 *   pool → worker  `[RunOneTrace, trace, …]`, `[RunTimedOneTrace, trace, …]`: the same tasks
 *                  (`Run` layout from `RunOneTrace.first`), all from one caller's trace context
 *                  (`traceWire`: `traceId/spanId/sampled`; undefined: untraced tasks) — a traced
 *                  map's chunk, or runs of one span: the context crosses once a message, not a
 *                  field a task.
 *   pool → worker  `[RunTraced, …]`, `[RunTimedTraced, …]`: tasks of several contexts in one
 *                  message (concurrent runs of different spans coalesced): a fifth field per
 *                  task, its caller's trace context, or undefined for an untraced task, or
 *                  `SameTrace` for the context of the task before it. Sent only by a pool that was ever given a
 *                  traced call: untraced programs never pay for traces. The handler runs in a span
 *                  whose parent is the caller's; the spans a traced task's handler made come back
 *                  before its result as `[Spans, id, count, …spans]` (`count` spans of `SpanField`
 *                  layout each, after each task id), and the pool replays them
 *                  into the caller's tracer (one trace from caller to worker and back).
 *   Each worker also counts, in memory it shares with the pool, the tasks it has taken off its
 *   queue (run, rejected or skipped): no message per task, and after a crash the pool knows
 *   which of the tasks it sent never started (see the Dispatcher's rule 7).
 *   worker → pool  `[Heap, usedBytes]`, only when the pool set a heap threshold
 *                  (`recycleAboveHeapMb`) and the worker's used heap, sampled whenever it sends
 *                  answers, is above it: the pool retires the worker (its rule 11). Once per worker.
 *   pool → worker  `[WatchMetrics, intervalMillis]`, while an observer exports the pool's metrics
 *                  (0: stop): every `intervalMillis`, and once more as it shuts down, the worker
 *                  sends `[Metrics, snapshots]`, what its own `Metric.MetricRegistry` holds
 *                  (`metricsWire.ts`): the metrics its handlers recorded reach the caller's registry.
 *   worker → pool  `[Started, id]`, sent at once, only for tasks with a timeout: the pool starts
 *                  a backstop timer (timeout + grace) so that a handler that never yields (a
 *                  synchronous infinite loop) gets its worker terminated and replaced.
 *
 * Cancellation (the caller was interrupted, or a `map` failed fast):
 *   pool → worker  `[Cancel, id, …]`: queued tasks are dropped first, then the running one is
 *                  interrupted (its finalizers run), so no cancelled task starts in between;
 *                  each is answered with outcome `Interrupted`. The pool waits `interruptGrace`
 *                  for those answers, then terminates the worker.
 *
 * Shutdown (the pool's scope closes):
 *   pool → worker  `[Shutdown, exitTimeoutMillis]`: the worker interrupts what it runs, closes its
 *                  per-worker Layer (the exit hooks) within the timeout, answers `[Closed]` and
 *                  exits. A worker that has not exited by the pool's `shutdownTimeout` is
 *                  terminated.
 *
 * A worker that exits at any other time fails (or, per the pool's `retries`, re-sends) exactly the
 * tasks it held, and is replaced.
 *
 * Moves: a `Run`, `Call`, `Results`, `ResultsTimed` or `Replies` message may go with a transfer
 * list — the buffers of the moved arrays (`memory: "moved"`) among its payloads or answers, found
 * by the codec from their Schemas; the union of its tasks' lists. The layout does not change.
 *
 * Actors (state that lives in one worker across calls; ids are unique per pool):
 *   pool → worker  `[Spawn, actorId, actorName, init]`: run the actor's constructor in a scope of
 *                  its own; answered `[Spawned, actorId, outcome, value]` (outcome `Success`, or
 *                  how the constructor failed).
 *   pool → worker  `[Call, callId, actorId, method, payload]`: appended to the actor's mailbox;
 *                  the actor takes one message at a time in arrival order (a method declared
 *                  concurrent starts at once). Answered `[Replies, callId, outcome, value, …]`.
 *                  `[Cancel, callId]` interrupts a queued or running call like a task.
 *                  `[CallTraced, callId, actorId, method, payload, trace]`: the same, from a caller
 *                  in a span (`traceWire`): the method runs in a span under it, and its spans come
 *                  back as `[Spans, callId, count, …]` before its reply.
 *                  `[CallTimed, callId, actorId, method, payload, trace?]`: either of those while an
 *                  observer wants timings; answered `[RepliesTimed, times, callId, outcome, value]`,
 *                  `times` as in `ResultsTimed` (when the method ran, pool clock). A call that never
 *                  started (cancelled in the mailbox, its actor stopped) is answered `Replies`.
 *   pool → worker  `[Stop, actorId]`: interrupt its calls, close its scope (its finalizers run),
 *                  answer `[Stopped, actorId]`. Shutdown stops every actor before the worker's Layer.
 *   worker → pool  `[Ask, askId, actorId, taskName, payload, trace, pool, tell]`: a handler calls an actor through a
 *                  handle it received (`taskName` is the method's, `<Actor>.<method>`: actor names
 *                  may hold dots); the pool routes it like a caller's call and answers
 *                  `[Answer, askId, outcome, value]`. Ask ids are unique per worker. `trace`, only
 *                  when the handler asked in a span: the call is traced, and its spans reach the
 *                  asking worker as `[Spans, askId, count, …]` before the answer. `pool`: the key
 *                  of the pool that spawned the actor, as the handle carries it; a pool whose key
 *                  it is not (actor ids are per pool) answers `Defect` (`foreignHandle`). `tell`
 *                  (`true`, or absent for a call): nobody awaits its outcome. When the asking
 *                  worker exits, the pool cancels its calls (nobody is left to answer) and lets
 *                  its tells run on.
 *   worker → pool  `[AskCancel, askId]`: the handler gave the call up (it was interrupted): the
 *                  pool cancels the call as it cancels a caller's, and answers nothing more.
 *   worker → pool  `[AskStop, askId, actorId, actorName, pool]`: a handler stops an actor through a
 *                  handle (`Actor.stop`); the pool stops it as the caller's stop does and answers
 *                  `[Answer, askId, Success, undefined]` once it stopped (`Defect`, `foreignHandle`,
 *                  for another pool's handle).
 * An actor whose worker dies fails its calls in flight (`Lost`); the pool may rebuild it from its
 * constructor arguments on another worker (its restart policy), never while it still runs.
 */
import { cut, maxUncaughtText } from "../internal/errorText.ts"
import type { PoolErrorReason } from "../../core/PoolError.ts"

import type { OutcomeName } from "../../core/PoolEvent.ts"
import type { WireMetric } from "./metricsWire.ts"

/** Opcodes. Plain numbers: enums are not erasable syntax. */
export const Op = {
  Ready: 0,
  InitFailed: 1,
  Run: 2,
  Results: 3,
  Started: 4,
  Cancel: 5,
  Shutdown: 6,
  Closed: 7,
  Spawn: 8,
  Spawned: 9,
  Call: 10,
  Replies: 11,
  Stop: 12,
  Stopped: 13,
  Ask: 14,
  Answer: 15,
  RunTimed: 16,
  ResultsTimed: 17,
  Heap: 18,
  RunTraced: 19,
  RunTimedTraced: 20,
  Spans: 21,
  CallTraced: 22,
  WatchMetrics: 23,
  Metrics: 24,
  CallTimed: 25,
  RepliesTimed: 26,
  AskCancel: 27,
  AskStop: 28,
  RunOneTrace: 29,
  RunTimedOneTrace: 30
} as const

/** How a task ended, as reported by a worker, or as the pool decided. */
export const Outcome = {
  /** value: the success Schema's encoded form */
  Success: 0,
  /** value: the error Schema's encoded form */
  Failure: 1,
  /** value: `RemoteError` */
  Defect: 2,
  /** value: `PayloadIssue` */
  PayloadInvalid: 3,
  /** value: undefined */
  Interrupted: 4,
  /** value: undefined */
  Timeout: 5,
  /** The pool's verdict for a task or call whose worker died holding it (on the wire only in `Answer`). value: `WorkerExit` */
  Lost: 6,
  /** A call to an actor that is not alive (on the wire only in `Answer`). value: "Stopped" | "Dead" */
  Unavailable: 7,
  /** The pool closed (or broke) before the task finished (on the wire only in `Answer`). value: a message */
  Closed: 8,
  /** The pool's queue was full and the call would not wait (never on the wire). value: `maxQueued` */
  Saturated: 9
} as const
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

const outcomeNames: ReadonlyArray<OutcomeName> = [
  "Success",
  "Failure",
  "Defect",
  "PayloadInvalid",
  "Interrupted",
  "Timeout",
  "Lost",
  "Unavailable",
  "Closed",
  "Saturated"
]

/** An outcome's name, as events and traces report it. */
export const outcomeName = (outcome: Outcome): OutcomeName => outcomeNames[outcome] ?? "Lost"

/** How a worker ended: the value of a `Lost` outcome. */
export interface WorkerExit {
  readonly kind: "Crashed" | "Exited" | "OutOfMemory" | "Terminated"
  readonly message: string
  /** The exit code, where the backend knows it. */
  readonly exitCode?: number | undefined
  /** The signal that ended a child process (`"SIGKILL"`, `"SIGABRT"` …). */
  readonly signal?: string | undefined
}

/** An exception from the other side, reduced to what survives a structured clone. */
export interface RemoteError {
  readonly name: string
  readonly message: string
  readonly stack: string
}

/** Where and why a payload failed its Schema. */
export interface PayloadIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

/**
 * The layout of a `Run` message: after the opcode, `stride` fields per task, at these offsets.
 * Only `pushRun` writes one; readers index `message[at + Run.payload]` with `at` stepping by the
 * stride from 1. A per-task field added here (a trace context, a timestamp) changes this file,
 * its writer and its reader, nothing else.
 */
export const Run = { stride: 4, id: 0, taskName: 1, payload: 2, timeoutMillis: 3 } as const

/**
 * A task's name field meaning "the name of the task before it in this message": a map's chunk
 * names its task once. A structured clone copies every string it meets, on both threads.
 */
export const SameName = 0

export const pushRun = (fields: Array<unknown>, id: number, taskName: string | typeof SameName, payload: unknown, timeoutMillis: number): void => {
  fields.push(id, taskName, payload, timeoutMillis)
}

/** The layout of a `RunTraced` or `RunTimedTraced` message: a `Run` layout plus the caller's trace context. */
export const RunTraced = { stride: 5, id: 0, taskName: 1, payload: 2, timeoutMillis: 3, trace: 4 } as const

export const pushRunTraced = (
  fields: Array<unknown>,
  id: number,
  taskName: string | typeof SameName,
  payload: unknown,
  timeoutMillis: number,
  trace: string | undefined | typeof SameTrace
): void => {
  fields.push(id, taskName, payload, timeoutMillis, trace)
}

/**
 * Turns a `RunOneTrace` message being built, all of whose tasks so far are of context `trace`,
 * into a `RunTraced` one (a field a task): a task of another context joins it.
 */
export const spreadTrace = (fields: Array<unknown>, trace: string | undefined): void => {
  const tasks = fields.slice(RunOneTrace.first)
  fields.length = 1
  for (let at = 0; at < tasks.length; at += Run.stride) {
    fields.push(tasks[at + Run.id], tasks[at + Run.taskName], tasks[at + Run.payload], tasks[at + Run.timeoutMillis], at === 0 ? trace : SameTrace)
  }
}

/**
 * A task's trace field meaning "the context of the task before it in this message". A structured
 * clone copies every string it meets: a 60-character context per task of a traced map cost
 * ~0.3 µs a task on the caller's thread.
 */
export const SameTrace = 0

/** The layout of a `RunOneTrace` or `RunTimedOneTrace` message: the trace context, then tasks in the `Run` layout from `first`. */
export const RunOneTrace = { trace: 1, first: 2 } as const

/** A `Run*` message's stride, by its opcode. */
export const runStride = (op: number): number => op === Op.RunTraced || op === Op.RunTimedTraced ? RunTraced.stride : Run.stride

/** Where a `Run*` message's first task is, by its opcode. */
export const firstRun = (op: number): number => op === Op.RunOneTrace || op === Op.RunTimedOneTrace ? RunOneTrace.first : 1

/** A caller's trace context on the wire: `traceId/spanId/1` (sampled) or `…/0`. */
export const traceWire = (traceId: string, spanId: string, sampled: boolean): string =>
  `${traceId}/${spanId}/${sampled ? 1 : 0}`

export const parseTraceWire = (wire: string): { readonly traceId: string; readonly spanId: string; readonly sampled: boolean } => {
  const [traceId = "", spanId = "", sampled] = wire.split("/")
  return { traceId, spanId, sampled: sampled === "1" }
}

/**
 * The layout of one span a worker made for a traced task, ended, in a `Spans` message: `start` and
 * `end` in milliseconds on the pool's clock; `attributes` an object or undefined; `failure`
 * undefined when it succeeded, else what failed it. Flat, like every message: a task of a `map`
 * costs one span, and objects per span cost more to clone. A span no other span names as its
 * parent may leave `spanId` empty, and one whose parent is the caller's span `parentId` (a
 * handler's span made without a fiber: both): the caller makes its own ids.
 */
export const SpanField = { stride: 8, name: 0, spanId: 1, parentId: 2, kind: 3, start: 4, end: 5, attributes: 6, failure: 7 } as const

export type SpanKind = "internal" | "server" | "client" | "producer" | "consumer"

export const pushSpan = (
  fields: Array<unknown>,
  name: string,
  spanId: string,
  parentId: string,
  kind: SpanKind,
  start: number,
  end: number,
  attributes: Record<string, unknown> | undefined,
  failure: string | undefined
): void => {
  fields.push(name, spanId, parentId, kind, start, end, attributes, failure)
}

/** The layout of a `Results` or `Replies` message: after the opcode, `stride` fields per outcome. */
export const Result = { stride: 3, id: 0, outcome: 1, value: 2 } as const

export const pushResult = (fields: Array<unknown>, id: number, outcome: Outcome, value: unknown): void => {
  fields.push(id, outcome, value)
}

/**
 * The layout of a `ResultsTimed` message: `times` (a `Float64Array`: answer k's handler ran from
 * `times[2k]` to `times[2k + 1]`, pool clock, ms), then answers in the `Results` layout from `first`.
 */
export const ResultTimed = { times: 1, first: 2 } as const

/** Where a `Results`, `ResultsTimed`, `Replies` or `RepliesTimed` message's first answer is (`RepliesTimed` has the `ResultsTimed` layout). */
export const firstAnswer = (op: number): number => op === Op.ResultsTimed || op === Op.RepliesTimed ? ResultTimed.first : 1

export type ToWorker =
  | readonly [
    typeof Op.Run | typeof Op.RunTimed | typeof Op.RunTraced | typeof Op.RunTimedTraced | typeof Op.RunOneTrace | typeof Op.RunTimedOneTrace,
    ...Array<unknown>
  ]
  | readonly [typeof Op.Cancel, ...Array<number>]
  | readonly [typeof Op.Shutdown, number]
  | readonly [typeof Op.Spawn, actorId: number, actorName: string, init: unknown]
  | readonly [typeof Op.Call, callId: number, actorId: number, method: string, payload: unknown]
  | readonly [typeof Op.CallTraced, callId: number, actorId: number, method: string, payload: unknown, trace: string]
  | readonly [typeof Op.CallTimed, callId: number, actorId: number, method: string, payload: unknown, trace: string | undefined]
  | readonly [typeof Op.Spans, ...Array<unknown>]
  | readonly [typeof Op.Stop, actorId: number]
  | readonly [typeof Op.Answer, askId: number, outcome: Outcome, value: unknown]
  | readonly [typeof Op.WatchMetrics, intervalMillis: number]

export type FromWorker =
  | readonly [typeof Op.Ready, initStartedAt?: number, served?: ReadonlyArray<string>]
  | readonly [typeof Op.InitFailed, RemoteError, reason?: typeof PoolErrorReason.Encoded]
  | readonly [typeof Op.Results | typeof Op.ResultsTimed, ...Array<unknown>]
  | readonly [typeof Op.Started, number]
  | readonly [typeof Op.Spans, ...Array<unknown>]
  | readonly [typeof Op.Closed]
  | readonly [typeof Op.Spawned, actorId: number, outcome: Outcome, value: unknown]
  | readonly [typeof Op.Replies, ...Array<unknown>]
  | readonly [typeof Op.RepliesTimed, times: Float64Array, callId: number, outcome: Outcome, value: unknown]
  | readonly [typeof Op.Stopped, actorId: number]
  | readonly [
    typeof Op.Ask,
    askId: number,
    actorId: number,
    taskName: string,
    payload: unknown,
    trace: string | undefined,
    pool: string | undefined,
    tell: true | undefined
  ]
  | readonly [typeof Op.AskCancel, askId: number]
  | readonly [typeof Op.AskStop, askId: number, actorId: number, actorName: string, pool: string | undefined]
  | readonly [typeof Op.Heap, usedBytes: number]
  | readonly [typeof Op.Metrics, snapshots: ReadonlyArray<WireMetric>]

/** The answer to an ask through a handle of another pool: its actor id means another actor here, or none. */
export const foreignHandle = (taskName: string, actorId: number): RemoteError => {
  const actor = taskName.slice(0, Math.max(0, taskName.lastIndexOf(".")))
  const message = `actor ${actor}#${actorId} belongs to another pool: a handle is only good in the workers of the pool that spawned its actor`
  return { name: "ForeignHandle", message, stack: `ForeignHandle: ${message}` }
}

/**
 * What a handler threw or died with, as the pool is told it: name, message and stack, all text.
 * Never throws: it runs in the worker's answer path, where a throw (a `message` getter that
 * throws, a proxy, an object `String` refuses) crashed the worker — the task reported as a lost
 * worker, the tasks sharing its message lost with it — or, on the inline backend, the caller.
 */
export const toRemoteError = (error: unknown): RemoteError => {
  let isError: boolean
  try {
    isError = error instanceof Error
  } catch {
    isError = false // a proxy whose `getPrototypeOf` throws
  }
  if (isError) {
    const name = errorField(error as Error, "name") ?? "Error"
    const message = errorField(error as Error, "message") ?? ""
    return bounded(name, message, errorField(error as Error, "stack") ?? `${name}: ${message}`)
  }
  const message = typeof error === "string" ? error : safeString(error)
  return bounded("NonError", message, message)
}

/** The most of a remote error's stack the pool is told: its message's share, and ample frames. */
const maxStackText = 4 * maxUncaughtText

/**
 * A remote error cut to size: the message at `maxUncaughtText` characters, as an uncaught error's
 * text is, and the stack after it. An error may carry megabytes (a message quoting a whole
 * input), which crossed to the caller whole, twice (V8 starts a stack with `name: message`), and
 * became the `TaskError`'s message.
 */
const bounded = (name: string, message: string, stack: string): RemoteError => {
  const short = cut(message, maxUncaughtText)
  const head = `${name}: ${message}`
  // A non-Error's stack is its message.
  const body = short === message ? stack : stack === message ? short : stack.startsWith(head) ? `${name}: ${short}${stack.slice(head.length)}` : stack
  return { name: cut(name, maxUncaughtText), message: short, stack: cut(body, maxStackText) }
}

/** A property of a thrown Error as text; undefined when absent; a note when reading it throws. */
const errorField = (error: Error, key: "name" | "message" | "stack"): string | undefined => {
  try {
    const value: unknown = error[key]
    return value === undefined ? undefined : typeof value === "string" ? value : safeString(value)
  } catch (thrown) {
    let why: string
    try {
      why = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : safeString(thrown)
    } catch {
      why = safeString(thrown)
    }
    return `<its ${key} could not be read: ${why}>`
  }
}

const safeString = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    try {
      return String(value)
    } catch {
      return `<${value === null ? "null" : typeof value} that cannot be turned into text>`
    }
  }
}

// `performance.timeOrigin` is a getter (~10 ns a read here, against ~45 for `now()`): read once.
const timeOrigin = performance.timeOrigin

/**
 * The pool clock: milliseconds since the epoch as this thread's monotonic clock counts them
 * (`performance.timeOrigin + performance.now()`), comparable across threads and processes — what
 * `ResultsTimed`'s times and the pool's events are stamped with on real backends.
 */
export const poolClock = (): number => timeOrigin + performance.now()

/**
 * The buffers whose every byte a value's moved views cover, as the codec found them when it listed
 * the value's moves: the ones `detachMoved` may take.
 */
export const coveredByMovedView = new WeakSet<ArrayBuffer>()

/**
 * Detaches the moved buffers of a message sent over a channel that copies (a child process's IPC),
 * so that the sender's views end detached as they do across threads — only buffers that moved views
 * cover whole. A buffer partly covered is left attached: the typed arrays that IPC delivers
 * are views over the received message's own buffer, one buffer for all the arrays of a message
 * that fall aligned in it (or a slice of Node's shared Buffer pool), so detaching the buffer of one
 * task's moved array took the arrays of the other tasks of its message, still queued, with it.
 */
export const detachMoved = (transfer: ReadonlyArray<ArrayBuffer> | undefined): void => {
  if (transfer === undefined || transfer.length === 0) return
  const whole = transfer.filter((buffer) => coveredByMovedView.has(buffer))
  if (whole.length > 0) structuredClone(undefined, { transfer: whole })
}
