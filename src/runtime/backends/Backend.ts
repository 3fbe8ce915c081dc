/**
 * The worker backend: where a pool's workers come from — threads, the caller's own thread, a
 * simulation, child processes. A backend is a service; each is provided by a Layer, and a
 * pool takes its backend from context (`ThreadBackend` when none is given).
 *
 * Contains the service (`WorkerBackend`) with its `Capabilities` (checked when a pool is built),
 * and the contract a backend implements for one pool's workers and the scheduler drives:
 * `Spawner` (spawn a worker), `Timers`, `Connection` (send, terminate, poll, tasks taken) and
 * `WorkerEvents` (what a worker says, and its exit).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { PoolError } from "../../core/PoolError.ts"
import type { Any, Group } from "../../core/Task.ts"
import type { WorkerEntry } from "../../core/Worker.ts"
import { maxTimerMillis } from "../internal/duration.ts"
import type { EventHub } from "../observe/EventHub.ts"
import { type FromWorker, poolClock, type ToWorker, type WorkerExit } from "../protocol/protocol.ts"

/** What a backend can and cannot do; a pool checks them against its group when it is built. */
export interface Capabilities {
  /** Workers see the caller's `SharedArrayBuffer`s: shared arrays cross as handles, not copies. */
  readonly sharesMemory: boolean
  /** A handler that never yields (a synchronous loop) can be stopped: its worker is terminated. */
  readonly canTerminate: boolean
  /**
   * Each worker has a heap and module state of its own: a handler that crashes its worker
   * (`process.exit`, out of memory) takes only that worker down.
   */
  readonly isolatesCrashes: boolean
  /**
   * The pool's `resourceLimits` (V8 heap limits per worker) apply, and its `recycleAboveHeapMb`:
   * each worker has a heap of its own, and reports its use (`[Heap, bytes]`) when above it.
   */
  readonly heapLimits: boolean
  /** Workers can be pinned to CPUs (the pool's `cpus`): each worker and its native threads. */
  readonly pinsCpus: boolean
  /** Workers can run at a lower CPU priority than the caller (the pool's `nice`): Linux threads and processes. */
  readonly lowersPriority: boolean
}

/** What a pool tells its backend when it is built. */
export interface PoolSpec {
  /** The worker entry: a module URL or path, or (backends that run in this thread) the entry itself. */
  readonly entry: URL | string | WorkerEntry
  readonly group: Group<Any, unknown>
  readonly size: number
  /** The scheduler's bounds, for backends that report them (the simulation's summary). */
  readonly pipelineDepth: number
  readonly retries: number
  /** How long `poll` may wait for a reply, in ms (the pool's `replyWait`); 0: no `poll`. */
  readonly replyWaitMillis: number
  /** V8 heap limits per worker, for backends that can set them. */
  readonly resourceLimits:
    | { readonly maxOldGenerationSizeMb?: number | undefined; readonly maxYoungGenerationSizeMb?: number | undefined }
    | undefined
  /** The CPUs each worker slot is pinned to (`WorkerPool.Options.cpus`: one set per slot, or spread by the backend). */
  readonly cpus?: "spread" | ReadonlyArray<ReadonlyArray<number>> | undefined
  /**
   * Backends with `heapLimits`: a worker whose used heap is above this many MB after answering
   * says `[Heap, bytes]`, once (the host passes it to `WorkerRuntime` as `heapThreshold`).
   */
  readonly recycleAboveHeapMb: number | undefined
  /** Backends with `lowersPriority`: each worker's nice value (`WorkerPool.Options.nice`), if set. */
  readonly nice?: number | undefined
  /** The pool's event hub: a backend may subscribe (the simulation's trace does). */
  readonly events: EventHub
}

/** The workers of one pool. */
export interface Spawner {
  readonly spawn: (workerId: number, events: WorkerEvents) => Connection
}

/** A live worker, as the scheduler drives it. */
export interface Connection {
  /**
   * Sends a message, moving the buffers in `transfer` (the sender's views of them are detached,
   * also by backends that stay in this thread). Throws when it cannot be sent (`postMessage`
   * could not clone a payload, or move a buffer): nothing was sent or detached, and the scheduler
   * takes the message back.
   */
  readonly send: (message: ToWorker, transfer?: ReadonlyArray<ArrayBuffer>) => void
  /** Stops the worker now; its `onExit` follows. */
  readonly terminate: () => void
  /**
   * Waits briefly, without yielding to the event loop, for the worker's next message and delivers
   * it through `onMessage`; false if none came. Backends that cannot leave it out.
   */
  readonly poll?: (() => boolean) | undefined
  /**
   * How many tasks the worker has taken off its queue (started, rejected or skipped), in arrival
   * order, read from memory it shares with the pool: after it dies, the tasks sent to it after
   * those never started. Backends that cannot share memory leave it out.
   */
  readonly tasksTaken?: (() => number) | undefined
  /**
   * How long the worker has been busy running tasks, in µs modulo 2^32 (use differences), as it
   * last sent answers, read from memory it shares with the pool (a child process: its status
   * file): what its tasks cost, by its own clock (the Dispatcher's rule 12). Backends that cannot
   * tell it leave it out; their maps keep static chunks.
   */
  readonly busyMicros?: (() => number) | undefined
  /**
   * With `busyMicros`: the work a message to this worker holds once its task's cost is known
   * (rule 12), in milliseconds; default 2. Long enough that a message's trip and the pool's turn
   * to send the next one cost a few per cent of it, short enough that no worker ends a map with a
   * backlog while another idles.
   */
  readonly messageMillis?: number | undefined
  /**
   * How long the worker's event loop has been idle and active since it started, in milliseconds
   * (`worker.performance.eventLoopUtilization()`), read from the caller's thread; undefined
   * before it runs or after it ended. Backends whose workers share the caller's loop leave it out.
   */
  readonly eventLoop?: (() => { readonly idle: number; readonly active: number } | undefined) | undefined
}

export interface WorkerEvents {
  readonly onMessage: (message: FromWorker) => void
  /** The worker is gone (crash, exit, termination); called once, after its last message. */
  readonly onExit: (exit: WorkerExit) => void
}

/** Time as the scheduler sees it. */
export interface Timers {
  readonly set: (millis: number, f: () => void) => unknown
  readonly clear: (handle: unknown) => void
  /** Milliseconds on the pool's clock (see `PoolEvent`). */
  readonly now: () => number
}

/**
 * The young generation a worker gets unless `resourceLimits` says otherwise (why 16 MB:
 * `WorkerPool.Options.resourceLimits`). A child process gets it in whole semi-spaces (15 MB).
 */
export const defaultYoungGenerationSizeMb = 16

export const realTimers: Timers = {
  set: (millis, f) => millis > maxTimerMillis ? new LongTimer(millis, f) : setTimeout(f, millis),
  clear: (handle) => handle instanceof LongTimer ? handle.clear() : clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: poolClock
}

/** A delay beyond `setTimeout`'s range, waited in steps it can take (as Effect's own `sleep` does). */
class LongTimer {
  private handle: ReturnType<typeof setTimeout> | undefined
  constructor(millis: number, f: () => void) {
    this.wait(millis, f)
  }
  private wait(millis: number, f: () => void): void {
    this.handle = millis > maxTimerMillis
      ? setTimeout(() => this.wait(millis - maxTimerMillis, f), maxTimerMillis)
      : setTimeout(f, millis)
  }
  clear(): void {
    clearTimeout(this.handle)
  }
}

/** A kind of worker: its capabilities, and how it starts one pool's workers. */
export interface Backend {
  readonly name: string
  readonly capabilities: Capabilities
  /** Time as its pools see it: real timers, or a simulation's virtual ones. */
  readonly timers: Timers
  /** Workers when the pool does not say. */
  readonly defaultSize: () => number
  /**
   * Why this backend's pools need a number for `size`, if they do: `"cores"` (this machine's
   * count) then fails with it. A simulation must replay a seed on any machine.
   */
  readonly needsFixedSize?: string | undefined
  /** The workers of one pool, for the pool's scope. */
  readonly make: (spec: PoolSpec) => Effect.Effect<Spawner, PoolError, Scope.Scope>
}

/** The backend pools take their workers from. Without one in context, a pool uses threads. */
export class WorkerBackend extends Context.Service<WorkerBackend, Backend>()("effect-parallel/WorkerBackend") {}

/**
 * `postMessage`'s structured clone for backends whose workers live in this thread: the receiver
 * gets its own copy, and moved buffers are transferred, so the sender's views end detached exactly
 * as they would across threads.
 */
export const cloneMessage = <A>(message: A, transfer: ReadonlyArray<ArrayBuffer> | undefined): A =>
  transfer === undefined || transfer.length === 0
    ? structuredClone(message)
    : structuredClone(message, { transfer: transfer as Array<ArrayBuffer> })
