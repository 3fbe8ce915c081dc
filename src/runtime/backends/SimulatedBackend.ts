/**
 * A pool whose workers are simulated: each runs the real `WorkerRuntime` with the real entry on a
 * process of a `World`, and every message between the pool and a worker travels through the world
 * with a latency drawn from its seed. Faults from a plan are injected at the points they name, and
 * everything the pool and its workers do is recorded as a trace.
 *
 * Contains `simulatedBackend` (a `Backend` whose pools' workers are simulated in a world, and
 * whose pools are traced and summarized), and the trace `Event` model. What the pool itself does
 * (submissions, settles, actor decisions) the trace takes from the pool's events; what crossed
 * the wire and what each worker ran, it records itself.
 *
 * Rules:
 * 1. Messages are structured-cloned and each direction of each worker's channel is FIFO, like a
 *    `MessagePort`; channels of different workers, and the two directions, are not ordered
 *    against each other. Delivery takes `latency` (× the worker's slowness) virtual ms.
 * 2. A worker that dies — crash, termination, exit after `Shutdown` — never runs again (its
 *    process is killed: no finalizer runs, as in a terminated thread); what it posted before
 *    arrives, then the pool hears of its exit, once.
 * 3. Each task, actor constructor and actor method first spends `work` virtual ms (× slowness)
 *    in its worker, so they overlap, time out and are cut down by crashes as real ones do.
 * 4. Bookkeeping is on the wire, independent of the dispatcher's own: a message is outstanding
 *    from its `Run` until the pool has received an answer for each of its tasks or the worker's
 *    exit; the maxima are reported so a property can hold them against the configured bound.
 * 5. Actors are traced at three levels: what the pool's actor host decided (spawns, calls and
 *    their one answer, restarts, stops), what crossed the wire (placements, constructors'
 *    outcomes), and what each worker ran (instances built and finalized, handlers started and
 *    finished). Call ids are the host's, the same on every level.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type { Fault } from "../../core/Fault.ts"
import type { OutcomeName, PoolEvent } from "../../core/PoolEvent.ts"
import type { WorkerEntry } from "../../core/Worker.ts"
import {
  type FromWorker,
  Op,
  type Outcome,
  outcomeName,
  Result,
  firstAnswer,
  Run,
  firstRun,
  runStride,
  type ToWorker,
  type WorkerExit
} from "../protocol/protocol.ts"
import { isEffect, notAnEffect } from "../worker/handler.ts"
import { WorkerRuntime } from "../worker/WorkerRuntime.ts"
import { type Backend, type Capabilities, cloneMessage, type Connection, type PoolSpec, type Spawner, type Timers, type WorkerEvents } from "./Backend.ts"
import { loadEntry } from "./entry.ts"
import type { Process, World } from "./SimulatedWorld.ts"

export type { OutcomeName } from "../../core/PoolEvent.ts"

/** A closed range of virtual milliseconds; each use draws from it. */
export interface Range {
  readonly min: number
  readonly max: number
}

/** A task on the wire: its pool-wide id, and which submission, input and attempt it carries. */
export interface WireTask {
  readonly id: number
  readonly submission: number
  readonly index: number
  readonly attempt: number
}

/**
 * What happened, in order. `at` is virtual ms; `pool` numbers the pools of a run in the order
 * their layers were built; `worker` is the dispatcher's worker id (replacements get new ids).
 */
export type Event =
  /** The caller handed the pool `count` tasks of `task`, to be sent `chunkSize` to a message. */
  | { readonly _tag: "Submit"; readonly at: number; readonly pool: number; readonly submission: number; readonly task: string; readonly count: number; readonly chunkSize: number }
  /** The caller cancelled a submission (it was interrupted, or its map failed fast). */
  | { readonly _tag: "Cancel"; readonly at: number; readonly pool: number; readonly submission: number }
  /** The caller received the outcome of one task. */
  | { readonly _tag: "Settle"; readonly at: number; readonly pool: number; readonly submission: number; readonly index: number; readonly outcome: OutcomeName; readonly worker: number; readonly attempts: number }
  /** A worker was started: one of the first `size`… */
  | { readonly _tag: "Spawn"; readonly at: number; readonly pool: number; readonly worker: number }
  /** …or a replacement. */
  | { readonly _tag: "Restart"; readonly at: number; readonly pool: number; readonly worker: number }
  /** The pool heard the worker's `Ready` or `InitFailed`. */
  | { readonly _tag: "Ready"; readonly at: number; readonly pool: number; readonly worker: number }
  | { readonly _tag: "InitFailed"; readonly at: number; readonly pool: number; readonly worker: number }
  /** A task went back to the queue: from a dead worker, where it never started (`NotStarted`) or is retried; or from a message that could not be sent (`Unsendable`). */
  | { readonly _tag: "Requeue"; readonly at: number; readonly pool: number; readonly submission: number; readonly index: number; readonly why: "NotStarted" | "Retry" | "Unsendable" }
  /** The pool sent a `Run` message. */
  | { readonly _tag: "Dispatch"; readonly at: number; readonly pool: number; readonly worker: number; readonly tasks: ReadonlyArray<WireTask> }
  /** A worker began a task's handler… */
  | { readonly _tag: "Start"; readonly at: number; readonly pool: number; readonly worker: number; readonly task: number }
  /** …and the handler finished (succeeded or failed; not when interrupted): its answer is due. */
  | { readonly _tag: "Finish"; readonly at: number; readonly pool: number; readonly worker: number; readonly task: number }
  /** The pool received a task's outcome from its worker. */
  | { readonly _tag: "Reply"; readonly at: number; readonly pool: number; readonly worker: number; readonly task: number; readonly outcome: OutcomeName }
  /** The pool sent a `Cancel` message (its ids are tasks' or actor calls'). */
  | { readonly _tag: "Interrupt"; readonly at: number; readonly pool: number; readonly worker: number; readonly tasks: ReadonlyArray<number> }
  /** The pool asked a worker to shut down, or terminated it. */
  | { readonly _tag: "Shutdown"; readonly at: number; readonly pool: number; readonly worker: number }
  | { readonly _tag: "Terminate"; readonly at: number; readonly pool: number; readonly worker: number }
  /** A fault from the plan struck. */
  | { readonly _tag: "Crash"; readonly at: number; readonly pool: number; readonly worker: number; readonly fault: Fault["_tag"] }
  | { readonly _tag: "Corrupt"; readonly at: number; readonly pool: number; readonly worker: number; readonly task: number }
  /** A worker's exit hooks (its per-worker Layer's finalizers) all ran. */
  | { readonly _tag: "Finalized"; readonly at: number; readonly pool: number; readonly worker: number }
  /** The pool heard that a worker is gone. */
  | { readonly _tag: "Exit"; readonly at: number; readonly pool: number; readonly worker: number; readonly reason: string }
  // Actors (rule 5). `actor` is the actor's id in its pool, `call` the host's id of a call.
  /** The caller asked for a new actor. */
  | { readonly _tag: "ActorSpawn"; readonly at: number; readonly pool: number; readonly actor: number; readonly name: string }
  /** The pool sent it to a worker to be built: its first placement, or after a restart… */
  | { readonly _tag: "ActorPlace"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number }
  /** …the worker began building an instance (its constructor runs; its scope opens)… */
  | { readonly _tag: "ActorBuild"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number }
  /** …and the pool heard how the constructor ended. */
  | { readonly _tag: "ActorSpawned"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number; readonly outcome: OutcomeName }
  /** A call was made, by the caller (`from` -1) or by a handler on worker `from`… */
  | { readonly _tag: "ActorCall"; readonly at: number; readonly pool: number; readonly actor: number; readonly call: number; readonly method: string; readonly from: number }
  /** …its handler began on the actor's worker… */
  | { readonly _tag: "ActorStart"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number; readonly call: number }
  /** …and ended, however (`Success`, `Failure`, `Defect` or `Interrupted`)… */
  | { readonly _tag: "ActorFinish"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number; readonly call: number; readonly outcome: OutcomeName }
  /** …and its one answer went to whoever made it (`worker` -1 when no worker gave it), */
  | { readonly _tag: "ActorAnswer"; readonly at: number; readonly pool: number; readonly actor: number; readonly call: number; readonly outcome: OutcomeName; readonly worker: number }
  /** or they gave up on it first, and get none. */
  | { readonly _tag: "ActorCancel"; readonly at: number; readonly pool: number; readonly actor: number; readonly call: number }
  /** Its instance was lost: it is rebuilt (its `restarts`-th time) after `after` ms… */
  | { readonly _tag: "ActorRestart"; readonly at: number; readonly pool: number; readonly actor: number; readonly restarts: number; readonly after: number }
  /** …or, with no restart left, it is dead. */
  | { readonly _tag: "ActorDead"; readonly at: number; readonly pool: number; readonly actor: number }
  /** Someone asked to stop it. */
  | { readonly _tag: "ActorStop"; readonly at: number; readonly pool: number; readonly actor: number }
  /** The pool forgot it: it stopped, or its spawn failed. */
  | { readonly _tag: "ActorStopped"; readonly at: number; readonly pool: number; readonly actor: number }
  /** An instance's scope closed: every finalizer of it ran. */
  | { readonly _tag: "ActorFinalized"; readonly at: number; readonly pool: number; readonly worker: number; readonly actor: number }

/** How a worker ended, or `"running"` if it had not when the run stopped. */
export type WorkerFate = "running" | "exited" | "crashed" | "terminated"

export interface WorkerSummary {
  readonly id: number
  readonly fate: WorkerFate
  /** Every finalizer of its per-worker Layer ran (a killed worker runs none). */
  readonly finalized: boolean
}

export interface PoolSummary {
  readonly pool: number
  readonly size: number
  readonly pipelineDepth: number
  readonly retries: number
  readonly workers: ReadonlyArray<WorkerSummary>
  /** The most `Run` messages one worker held unanswered at once (rule 4). */
  readonly maxOutstandingMessages: number
  /** The most tasks the pool's workers held unanswered at once. */
  readonly maxTasksInFlight: number
}

/** The world a simulation run provides to the pools built in it (`Simulation.World`). */
export interface WorldState {
  readonly world: World
  /** The process the pools (and their callers) run on. */
  readonly caller: Process
  /** The whole plan; a fault applies to a pool when its `pool` (default 0) is that pool's number. */
  readonly faults: ReadonlyArray<Fault>
  readonly latency: Range
  readonly work: Range
  readonly record: (event: Event) => void
  /** Every pool built in the run, in order: its number is its position. */
  readonly pools: Array<{ readonly summary: () => PoolSummary }>
}

/** Handlers run in this thread, so a handler that never yields cannot be stopped and crashes are the fault plan's. */
export const simulatedCapabilities: Capabilities = {
  sharesMemory: true,
  canTerminate: false,
  isolatesCrashes: false,
  heapLimits: false,
  pinsCpus: false,
  lowersPriority: false
}

/**
 * The backend of a simulated run: pools built with it get simulated workers in `state`'s world,
 * on its virtual timers, traced into its record. Handlers run in this thread: a handler that
 * never yields cannot be stopped, and crashes are the fault plan's.
 */
export const simulatedBackend = (state: WorldState): Backend => {
  const timers: Timers = {
    set: (millis, f) => state.caller.setTimer(millis, f),
    // Like `clearTimeout`, clearing nothing is fine: the dispatcher clears timers it may not have set.
    clear: (timer) => {
      if (timer !== undefined) state.caller.clearTimer(timer as ReturnType<Process["setTimer"]>)
    },
    now: () => state.world.now
  }
  return {
    name: "simulated",
    capabilities: simulatedCapabilities,
    timers,
    defaultSize: () => 2,
    needsFixedSize: "a simulated pool needs a fixed size: \"cores\" differs between machines",
    make: (spec) =>
      Effect.map(
        loadEntry(spec.entry, (promise) => state.world.block(promise)),
        (entry) => simulatePool(state, entry, spec)
      )
  }
}

const simulatePool = (state: WorldState, entry: WorkerEntry, spec: PoolSpec): Spawner => {
  const { world, caller, record } = state
  const pool = state.pools.length
  const options = { ...state, entry, pool }
  const faults = state.faults.filter((fault) => (fault.pool ?? 0) === pool)
  const workers = new Map<number, SimWorker>()
  let dispatchedTasks = 0
  let tasksInFlight = 0
  let maxTasksInFlight = 0
  let maxOutstanding = 0

  const latency = (worker: SimWorker) => world.between(options.latency.min, options.latency.max) * worker.slowness

  const toPool = (worker: SimWorker, f: () => void) => {
    worker.toPoolAt = Math.max(world.now + latency(worker), worker.toPoolAt)
    world.schedule(caller, worker.toPoolAt, f)
  }

  const toWorker = (worker: SimWorker, f: () => void) => {
    worker.toWorkerAt = Math.max(world.now + latency(worker), worker.toWorkerAt)
    world.schedule(worker.process, worker.toWorkerAt, f)
  }

  /** Rule 2. */
  const die = (worker: SimWorker, fate: WorkerFate, exit: WorkerExit) => {
    if (!worker.process.alive) return
    worker.process.kill()
    worker.fate = fate
    toPool(worker, () => {
      record({ _tag: "Exit", at: world.now, pool, worker: worker.id, reason: exit.message })
      tasksInFlight -= worker.unanswered.size
      worker.unanswered.clear()
      worker.outstanding = 0
      worker.events.onExit(exit)
    })
  }

  const crash = (worker: SimWorker, fault: Fault["_tag"]) => {
    if (!worker.process.alive) return
    record({ _tag: "Crash", at: world.now, pool, worker: worker.id, fault })
    die(worker, "crashed", { kind: "Crashed", message: `crashed: simulated fault ${fault}` })
  }

  /** Worker → pool. */
  const post = (worker: SimWorker, message: FromWorker, transfer?: ReadonlyArray<ArrayBuffer>) => {
    if (!worker.process.alive) return
    if (message[0] === Op.Ready && worker.has("CrashOnInit")) return crash(worker, "CrashOnInit")
    const copy = cloneMessage(message, transfer)
    toPool(worker, () => receive(worker, copy))
  }

  /** A message from a worker reaches the pool. */
  const receive = (worker: SimWorker, message: FromWorker) => {
    const at = world.now
    switch (message[0]) {
      case Op.Ready:
        record({ _tag: "Ready", at, pool, worker: worker.id })
        break
      case Op.InitFailed:
        record({ _tag: "InitFailed", at, pool, worker: worker.id })
        break
      case Op.Spawned:
        record({ _tag: "ActorSpawned", at, pool, worker: worker.id, actor: message[1], outcome: outcomeName(message[2]) })
        break
      case Op.Results:
      case Op.ResultsTimed: {
        for (let at_ = firstAnswer(message[0]); at_ < message.length; at_ += Result.stride) {
          const id = message[at_ + Result.id] as number
          record({ _tag: "Reply", at, pool, worker: worker.id, task: id, outcome: outcomeName(message[at_ + Result.outcome] as Outcome) })
          const answered = worker.unanswered.get(id)
          if (answered === undefined) continue
          worker.unanswered.delete(id)
          tasksInFlight--
          if (--answered.remaining === 0) worker.outstanding--
        }
        break
      }
    }
    worker.events.onMessage(message)
  }

  /** Pool → worker. */
  const send = (worker: SimWorker, message: ToWorker, transfer?: ReadonlyArray<ArrayBuffer>) => {
    const at = world.now
    const copy = cloneMessage(message, transfer) as unknown as Array<unknown>
    switch (message[0]) {
      case Op.Run:
      case Op.RunTimed:
      case Op.RunTraced:
      case Op.RunTimedTraced:
      case Op.RunOneTrace:
      case Op.RunTimedOneTrace: {
        // The trace's `Dispatch` comes from the pool's `Dispatched` event, right after this send.
        const sent = { remaining: 0 }
        for (let at_ = firstRun(message[0]); at_ < copy.length; at_ += runStride(message[0])) {
          const id = copy[at_ + Run.id] as number
          worker.unanswered.set(id, sent)
          sent.remaining++
          if (faults.some((f) => f._tag === "CorruptPayload" && f.task === dispatchedTasks)) {
            record({ _tag: "Corrupt", at, pool, worker: worker.id, task: id })
            copy[at_ + Run.payload] = corrupted
          }
          dispatchedTasks++
        }
        tasksInFlight += sent.remaining
        maxTasksInFlight = Math.max(maxTasksInFlight, tasksInFlight)
        maxOutstanding = Math.max(maxOutstanding, ++worker.outstanding)
        break
      }
      case Op.Cancel:
        record({ _tag: "Interrupt", at, pool, worker: worker.id, tasks: copy.slice(1) as Array<number> })
        break
      case Op.Shutdown:
        record({ _tag: "Shutdown", at, pool, worker: worker.id })
        break
      case Op.Spawn:
        record({ _tag: "ActorPlace", at, pool, worker: worker.id, actor: message[1] })
        break
    }
    toWorker(worker, () => {
      if (copy[0] !== Op.Shutdown) return worker.runtime.receive(copy as unknown as ToWorker)
      // As the thread host does: shut down, then exit.
      void worker.runtime.shutdown(copy[1] as number).then(() => die(worker, "exited", { kind: "Exited", message: "exited with code 0" }))
    })
  }

  const spawn = (workerId: number, events: WorkerEvents): Connection => {
    const process = world.process(`pool ${pool} worker ${workerId}`)
    const mine = faults.filter((fault) => "worker" in fault && fault.worker === workerId)
    const slow = mine.find((fault) => fault._tag === "Slow")
    const worker: SimWorker = {
      id: workerId,
      process,
      events,
      runtime: undefined as unknown as WorkerRuntime,
      slowness: slow === undefined ? 1 : Math.max(1, slow.factor),
      fate: "running",
      finalized: false,
      toPoolAt: 0,
      toWorkerAt: 0,
      unanswered: new Map(),
      outstanding: 0,
      tasksRun: 0,
      current: -1,
      building: -1,
      actorCall: -1,
      has: (tag) => mine.some((fault) => fault._tag === tag)
    }
    workers.set(workerId, worker)
    const tasksTaken = new Int32Array(new SharedArrayBuffer(4))
    const busyMicros = new Int32Array(new SharedArrayBuffer(4))
    worker.runtime = new WorkerRuntime(instrument(options, worker, mine, crash, record), workerId, (message, transfer) =>
      post(worker, message, transfer), {
      services: process.services,
      now: () => world.now,
      clock: () => world.now,
      tasksTaken,
      busyMicros,
      onStart: (id) => {
        worker.current = id
        record({ _tag: "Start", at: world.now, pool, worker: workerId, task: id })
      },
      actors: {
        onBuild: (actorId) => {
          worker.building = actorId
          record({ _tag: "ActorBuild", at: world.now, pool, worker: workerId, actor: actorId })
        },
        onCall: (actorId, callId) => {
          worker.actorCall = callId
          record({ _tag: "ActorStart", at: world.now, pool, worker: workerId, actor: actorId, call: callId })
        }
      }
    })
    record({ _tag: workerId < spec.size ? "Spawn" : "Restart", at: world.now, pool, worker: workerId })
    for (const fault of mine) {
      if (fault._tag === "CrashAt") process.setTimer(fault.millis, () => crash(worker, "CrashAt"))
    }
    // Starting a thread takes a while too.
    process.setTimer(latency(worker), () => void worker.runtime.start())
    return {
      send: (message, transfer) => send(worker, message, transfer),
      terminate: () => {
        if (!process.alive) return
        record({ _tag: "Terminate", at: world.now, pool, worker: workerId })
        die(worker, "terminated", { kind: "Terminated", message: "was terminated" })
      },
      tasksTaken: () => Atomics.load(tasksTaken, 0),
      busyMicros: () => Atomics.load(busyMicros, 0)
    }
  }

  // What the pool itself decided, as the trace names it (rule 5's first level, and the caller's view).
  spec.events.subscribe({
    onEvent: (event) => {
      const traced = traceOf(event, pool)
      if (traced !== undefined) record(traced)
    }
  })

  state.pools.push({
    summary: (): PoolSummary => ({
      pool,
      size: spec.size,
      pipelineDepth: spec.pipelineDepth,
      retries: spec.retries,
      workers: [...workers.values()].map((worker) => ({ id: worker.id, fate: worker.fate, finalized: worker.finalized })),
      maxOutstandingMessages: maxOutstanding,
      maxTasksInFlight
    })
  })

  return { spawn }
}

/** A pool event as a trace event; the wire's and the workers' own events are recorded where they happen. */
const traceOf = (event: PoolEvent, pool: number): Event | undefined => {
  const at = event.at
  switch (event._tag) {
    case "Submitted":
      return { _tag: "Submit", at, pool, submission: event.submission, task: event.taskName, count: event.count, chunkSize: event.chunkSize }
    case "Cancelled":
      return { _tag: "Cancel", at, pool, submission: event.submission }
    case "Settled":
      return {
        _tag: "Settle",
        at,
        pool,
        submission: event.submission,
        index: event.index,
        outcome: event.outcome,
        worker: event.workerId,
        attempts: event.attempt
      }
    case "Dispatched":
      return {
        _tag: "Dispatch",
        at,
        pool,
        worker: event.workerId,
        tasks: event.tasks.map((task) => ({ id: task.taskId, submission: task.submission, index: task.index, attempt: task.attempt }))
      }
    case "Requeued":
      return { _tag: "Requeue", at, pool, submission: event.submission, index: event.index, why: event.why }
    case "ActorSpawn":
      return { _tag: "ActorSpawn", at, pool, actor: event.actorId, name: event.name }
    case "ActorCall":
      return { _tag: "ActorCall", at, pool, actor: event.actorId, call: event.callId, method: event.method, from: event.from }
    case "ActorAnswer":
      return { _tag: "ActorAnswer", at, pool, actor: event.actorId, call: event.callId, outcome: event.outcome, worker: event.workerId }
    case "ActorCancel":
      return { _tag: "ActorCancel", at, pool, actor: event.actorId, call: event.callId }
    case "ActorRestart":
      return { _tag: "ActorRestart", at, pool, actor: event.actorId, restarts: event.restarts, after: event.delayMillis }
    case "ActorDead":
      return { _tag: "ActorDead", at, pool, actor: event.actorId }
    case "ActorStop":
      return { _tag: "ActorStop", at, pool, actor: event.actorId }
    case "ActorStopped":
      return { _tag: "ActorStopped", at, pool, actor: event.actorId }
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

interface SimWorker {
  readonly id: number
  readonly process: Process
  readonly events: WorkerEvents
  runtime: WorkerRuntime
  readonly slowness: number
  fate: WorkerFate
  finalized: boolean
  /** When the last message in each direction is delivered: later ones queue behind (rule 1). */
  toPoolAt: number
  toWorkerAt: number
  /** Wire task id → its message's count of unanswered tasks (rule 4). */
  readonly unanswered: Map<number, { remaining: number }>
  outstanding: number
  tasksRun: number
  /** The wire id of the task whose handler runs (a worker runs one at a time). */
  current: number
  /** The actor whose constructor, and the call whose handler, is about to run (set just before). */
  building: number
  actorCall: number
  readonly has: (tag: Fault["_tag"]) => boolean
}

/** What a corrupted payload becomes: no Schema but `Unknown`/`Any` accepts a symbol. */
const corrupted = Symbol.for("effect-parallel/Simulation/CorruptedPayload")

/**
 * The entry as this worker runs it: each handler (a task's or an actor method's) first spends its
 * `work` (rule 3) and may crash after running; each actor constructor spends its `work` too, and
 * its instance's scope is traced closing; the per-worker Layer is wrapped so the trace sees its
 * finalizers finish, a `CrashOnExit` strikes as they begin, and a `HangOnInit` never lets it
 * finish building.
 */
const instrument = (
  options: WorldState & { readonly entry: WorkerEntry; readonly pool: number },
  worker: SimWorker,
  faults: ReadonlyArray<Fault>,
  crash: (worker: SimWorker, fault: Fault["_tag"]) => void,
  record: (event: Event) => void
): WorkerEntry => {
  const { world, entry, pool } = options
  const work = () => world.between(options.work.min, options.work.max) * worker.slowness

  /**
   * A handler's effect as this worker runs it; `onFinish` sees, once, how it ended: the handler's
   * own Exit, or an interruption during its `work`.
   */
  const timed = (
    handler: (payload: unknown) => Effect.Effect<unknown, unknown, any>,
    payload: unknown,
    onFinish: (exit: Exit.Exit<unknown, unknown>) => void
  ): Effect.Effect<unknown, unknown, any> => {
    const task = worker.tasksRun++
    const millis = work()
    const crashes = faults.some((fault) => fault._tag === "CrashOnTask" && fault.task === task)
    let done = false
    const finished = (exit: Exit.Exit<unknown, unknown>) => {
      if (done) return
      done = true
      onFinish(exit)
    }
    const run = () => {
      let effect: Effect.Effect<unknown, unknown, any>
      try {
        effect = handler(payload)
      } catch (error) {
        finished(Exit.die(error))
        throw error
      }
      // Not an Effect: the defect the runtime makes of it, which this wrapper would hide.
      if (!isEffect(effect)) effect = Exit.die(notAnEffect(effect))
      // An Exit stays an Exit, so the runtime's no-fiber path for sync handlers is exercised too.
      if (Exit.isExit(effect)) {
        finished(effect)
        return effect
      }
      return Effect.onExit(effect, (exit) => Effect.sync(() => finished(exit)))
    }
    let effect = millis > 0
      ? Effect.onExit(Effect.andThen(Effect.sleep(millis), Effect.suspend(run)), (exit) => Effect.sync(() => finished(exit)))
      : run()
    if (crashes) {
      // The handler did its work (and its side effects); its worker dies before answering.
      effect = Effect.flatMap(Effect.exit(effect), () =>
        Effect.suspend(() => {
          crash(worker, "CrashOnTask")
          return Effect.never
        }))
    }
    return effect
  }

  const handlers: Record<string, (payload: unknown) => Effect.Effect<unknown, unknown, any>> = { ...entry.handlers }
  for (const name of Object.keys(entry.group.tasks)) {
    const handler = entry.handlers[name]
    if (handler === undefined) continue
    handlers[name] = (payload) => {
      const id = worker.current
      return timed(handler, payload, (exit) => {
        if (Exit.isSuccess(exit) || !Cause.hasInterruptsOnly(exit.cause)) {
          record({ _tag: "Finish", at: world.now, pool, worker: worker.id, task: id })
        }
      })
    }
  }
  for (const name of Object.keys(entry.group.actors)) {
    const constructor = entry.handlers[name]
    if (constructor === undefined) continue
    handlers[name] = (init) => {
      const actor = worker.building
      const finalized = () => record({ _tag: "ActorFinalized", at: world.now, pool, worker: worker.id, actor })
      let built: Effect.Effect<unknown, unknown, any>
      try {
        built = constructor(init)
      } catch (error) {
        // Its scope closes with nothing in it.
        finalized()
        throw error
      }
      const millis = work()
      return Effect.gen(function*() {
        // Finalizers run in reverse: this one last, once every finalizer of the instance has run.
        yield* Effect.addFinalizer(() => Effect.sync(finalized))
        if (millis > 0) yield* Effect.sleep(millis)
        const methods = (yield* built) as Record<string, (payload: unknown) => Effect.Effect<unknown, unknown, any>>
        const traced: Record<string, (payload: unknown) => Effect.Effect<unknown, unknown, any>> = {}
        for (const [method, handler] of Object.entries(methods)) {
          traced[method] = (payload) => {
            const call = worker.actorCall
            return timed(handler, payload, (exit) =>
              record({ _tag: "ActorFinish", at: world.now, pool, worker: worker.id, actor, call, outcome: exitName(exit) }))
          }
        }
        return traced
      })
    }
  }
  const hangs = faults.some((fault) => fault._tag === "HangOnInit")
  const crashesOnExit = faults.some((fault) => fault._tag === "CrashOnExit")
  const layer = Layer.effectContext(Effect.gen(function*() {
    // Finalizers run in reverse: this one last, once every exit hook of the entry has finished.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        worker.finalized = true
        record({ _tag: "Finalized", at: world.now, pool, worker: worker.id })
      })
    )
    const services = entry.layer === undefined ? Context.empty() : yield* Layer.build(entry.layer)
    if (crashesOnExit) {
      // …and this one first: the worker dies as its exit hooks begin.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          crash(worker, "CrashOnExit")
          return Effect.never
        })
      )
    }
    if (hangs) yield* Effect.never
    return services as Context.Context<any>
  })) as WorkerEntry["layer"]
  return { ...entry, handlers, layer }
}

/** How a handler ended, as the trace names it. */
const exitName = (exit: Exit.Exit<unknown, unknown>): OutcomeName =>
  Exit.isSuccess(exit)
    ? "Success"
    : Cause.hasInterruptsOnly(exit.cause)
    ? "Interrupted"
    : Cause.findErrorOption(exit.cause)._tag === "Some"
    ? "Failure"
    : "Defect"

