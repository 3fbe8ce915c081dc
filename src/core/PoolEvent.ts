/**
 * What a pool tells its observers: one typed event model for workers, tasks and actors, on one
 * clock. `WorkerPool.events` streams them; the simulation's trace, the progress bar and any
 * insight, metric or timeline are subscribers.
 *
 * Events are plain objects with a `_tag`, made only while someone subscribes. `at` is
 * milliseconds on the pool's clock: wall-clock milliseconds with sub-millisecond precision
 * (`performance.timeOrigin + performance.now()`, comparable across threads) on real backends,
 * virtual milliseconds in a simulation. Ids: `workerId` unique per pool (a replacement gets a
 * new one), `submission` numbers a pool's submissions (one `run`, one `map`, one stream chunk),
 * `taskId` names one attempt of one task, `index` is the task's position in its submission.
 */

/** How a task or call ended, as a pool reports it. */
export type OutcomeName =
  | "Success"
  | "Failure"
  | "Defect"
  | "PayloadInvalid"
  | "Interrupted"
  | "Timeout"
  | "Lost"
  | "Unavailable"
  | "Closed"
  | "Saturated"

/**
 * How a worker ended. `Recycled`: the pool retired it (`maxTasksPerWorker`, `recycleAboveHeapMb`)
 * and it shut down gracefully, its exit hooks run, every task it was sent answered; one that died
 * before it was shut down (a `process.exit` in its last task) is reported as it died.
 */
export type WorkerExitKind = "Crashed" | "Exited" | "OutOfMemory" | "Terminated" | "Recycled"

/** One task of a `Dispatched` message. */
export interface DispatchedTask {
  readonly taskId: number
  readonly submission: number
  readonly index: number
  /** 1 for the first send; retries count up. */
  readonly attempt: number
}

export type PoolEvent =
  // Workers
  /** A worker is being started: one of the first `size`, or a `replacement`. */
  | { readonly _tag: "WorkerStarting"; readonly at: number; readonly workerId: number; readonly replacement: boolean }
  /**
   * It built its per-worker Layer and takes work. `initStartedAt`: when it had loaded its entry
   * and began building that Layer (the worker's clock), when the worker reported it.
   */
  | { readonly _tag: "WorkerReady"; readonly at: number; readonly workerId: number; readonly initStartedAt?: number | undefined }
  /** Its entry or Layer failed, or it did not get ready in time; it is terminated. */
  | { readonly _tag: "WorkerInitFailed"; readonly at: number; readonly workerId: number; readonly message: string }
  /** The pool asked it to shut down (the pool is closing): its exit hooks run. */
  | { readonly _tag: "WorkerStopping"; readonly at: number; readonly workerId: number }
  /** It is gone; the tasks it held were settled or re-queued just before. */
  | {
    readonly _tag: "WorkerExited"
    readonly at: number
    readonly workerId: number
    readonly exit: WorkerExitKind
    readonly message: string
  }
  // Tasks
  /**
   * A caller handed the pool `count` tasks, to be sent up to `chunkSize` to a message. `payloads`
   * are their encoded (wire) forms, the pool's own array: read them, never keep or change them.
   */
  | {
    readonly _tag: "Submitted"
    readonly at: number
    readonly submission: number
    readonly taskName: string
    readonly count: number
    readonly chunkSize: number
    readonly payloads: ReadonlyArray<unknown>
  }
  /** The caller gave up on a submission (interrupted, or its map failed fast): its tasks are stopped. */
  | { readonly _tag: "Cancelled"; readonly at: number; readonly submission: number }
  /** One message of tasks went to a worker. */
  | {
    readonly _tag: "Dispatched"
    readonly at: number
    readonly workerId: number
    readonly tasks: ReadonlyArray<DispatchedTask>
  }
  /**
   * A task went back to the queue: from a dead worker, `NotStarted` (the worker never took it: it
   * is sent again, and this is not an attempt) or `Retry` (it was running: sent again per
   * `retries`); or `Unsendable`, when a message it shared could not be sent (`postMessage` could
   * not clone a payload): it is sent again alone, and only a payload that cannot go alone fails.
   * `taskId` is the attempt that was taken back.
   */
  | {
    readonly _tag: "Requeued"
    readonly at: number
    readonly taskId: number
    readonly submission: number
    readonly index: number
    readonly why: "NotStarted" | "Retry" | "Unsendable"
  }
  /**
   * A task's outcome went to its caller. `startedAt`/`endedAt` are when its handler ran in the
   * worker, when a subscriber asked for timings and the worker reported them; absent otherwise.
   */
  | {
    readonly _tag: "Settled"
    readonly at: number
    readonly submission: number
    readonly index: number
    readonly taskId: number
    readonly workerId: number
    readonly attempt: number
    readonly outcome: OutcomeName
    readonly startedAt?: number | undefined
    readonly endedAt?: number | undefined
  }
  // Actors (`callId` names a call on the wire; `from` is -1 for the caller, else the asking worker)
  | { readonly _tag: "ActorSpawn"; readonly at: number; readonly actorId: number; readonly name: string }
  /**
   * `actor`: the actor's name (its definition's), so that an observer subscribed after the spawn
   * can name it. A name no definition declares (a worker can ask for any actor id and method) is
   * reported as `unknownName`, for the actor or the method: observers keep series by these names.
   */
  | {
    readonly _tag: "ActorCall"
    readonly at: number
    readonly actorId: number
    readonly actor: string
    readonly callId: number
    readonly method: string
    readonly from: number
  }
  /**
   * A call's outcome went to its caller. `startedAt`/`endedAt`: when its method ran in the worker,
   * as for `Settled` (a subscriber asked for timings; absent for a call that never ran).
   */
  | {
    readonly _tag: "ActorAnswer"
    readonly at: number
    readonly actorId: number
    readonly callId: number
    readonly outcome: OutcomeName
    readonly workerId: number
    readonly startedAt?: number | undefined
    readonly endedAt?: number | undefined
  }
  | { readonly _tag: "ActorCancel"; readonly at: number; readonly actorId: number; readonly callId: number }
  /** Its instance was lost: it is rebuilt (its `restarts`-th time) after `delayMillis`. */
  | {
    readonly _tag: "ActorRestart"
    readonly at: number
    readonly actorId: number
    readonly restarts: number
    readonly delayMillis: number
  }
  /** Lost with no restart left: its calls fail as unavailable until it is stopped. */
  | { readonly _tag: "ActorDead"; readonly at: number; readonly actorId: number }
  /** Someone asked to stop it… */
  | { readonly _tag: "ActorStop"; readonly at: number; readonly actorId: number }
  /** …and the pool forgot it (stopped, or its spawn failed). */
  | { readonly _tag: "ActorStopped"; readonly at: number; readonly actorId: number }

export type PoolEventTag = PoolEvent["_tag"]

/** What an `ActorCall` names an actor or method by when the pool's definitions do not declare it. */
export const unknownName = "<unknown>"

/** A `Settled` event's fields as arguments (`PoolListener.onSettled`). */
export type OnSettled = (
  submission: number,
  index: number,
  taskId: number,
  workerId: number,
  attempt: number,
  outcome: OutcomeName,
  startedAt: number | undefined,
  endedAt: number | undefined
) => void

/** Delivers a `Settled` event to an `onSettled` (a listener fed events by hand: the simulation, tests). */
export const settledTo = (onSettled: OnSettled, event: Extract<PoolEvent, { readonly _tag: "Settled" }>): void =>
  onSettled(event.submission, event.index, event.taskId, event.workerId, event.attempt, event.outcome, event.startedAt, event.endedAt)

/** An observer of a pool's events. */
export interface PoolListener {
  readonly onEvent: (event: PoolEvent) => void
  /** Ask workers to report when each task's handler started and ended (`Settled.startedAt`). */
  readonly timings?: boolean | undefined
  /**
   * For listeners of every task (insights, metrics): `Settled` as plain numbers instead of an
   * event. When no other listener wants `Settled` events, the pool makes no event object per task
   * (on a 1 µs task, making and delivering one cost several per cent of its throughput). A
   * listener with `onSettled` gets no `Settled` event.
   */
  readonly onSettled?: OnSettled | undefined
  /** `Dispatched` as the worker and its number of tasks; a listener with it gets no `Dispatched` event. */
  readonly onDispatched?: ((workerId: number, tasks: number) => void) | undefined
  /**
   * With `timings`: a handler ran (tasks' and actor methods') for a task or call its caller had
   * cancelled, when the worker gave it back. No `Settled` or `ActorAnswer` follows a cancelled one,
   * so this is the only word of the time its worker spent on it (insights count it as working, the
   * timeline draws it). `name`: the task's, or the call's `Actor.method`.
   */
  readonly onCancelledRun?: ((workerId: number, startedAt: number, endedAt: number, name: string) => void) | undefined
}

/** Where a pool's events can be followed; the returned function unsubscribes. */
export interface PoolEvents {
  readonly subscribe: (listener: PoolListener) => () => void
  /** The clock of its events' `at` (virtual in a simulation), for observers that read the time too. */
  readonly now?: (() => number) | undefined
}

/** What a pool holds right now. */
export interface PoolStats {
  /** Workers the pool has (starting, ready or closing). */
  readonly workers: number
  readonly readyWorkers: number
  /** Tasks admitted and waiting for a worker. */
  readonly queued: number
  /** The most tasks that waited in the queue at once (never above `maxQueued`). */
  readonly peakQueued: number
  /** Tasks waiting for room in the queue (`maxQueued`, when calls wait). */
  readonly waiting: number
  /** Tasks sent to workers and not yet answered. */
  readonly inFlight: number
  readonly maxInFlight: number
  /**
   * Workers holding at least one task sent to them (a cancelled one included, until its worker
   * gives it back), when the pool can count them.
   */
  readonly busyWorkers?: number | undefined
  /** Workers started since the pool was built, replacements included. */
  readonly workersStarted: number
  /**
   * Of those, the ones started to replace a worker that died (not a recycled one, whose
   * replacement is a start of its own), when the pool can tell them apart.
   */
  readonly workersRestarted?: number | undefined
  readonly submitted: number
  readonly settled: number
  /** Workers retired and shut down gracefully (`maxTasksPerWorker`, `recycleAboveHeapMb`). */
  readonly recycled: number
}
