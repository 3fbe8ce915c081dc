/**
 * A pool whose workers are simulated: each runs the real `WorkerRuntime` with the real entry on a
 * process of a `World`, and every message between the pool and a worker travels through the world
 * with a latency drawn from its seed. Faults from a plan are injected at the points they name, and
 * everything the pool and its workers do is recorded as a trace.
 *
 * Contains `makeSimulatedPool` (the dispatcher, its `PoolClient` as a layer provides it, what an
 * actor host needs to run on it, and a summary of what happened to every worker), the trace
 * `Event` model, and the fault model it reads.
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
import type { PoolClient, Submission, Ticket } from "../client/PoolClient.ts"
import type { WorkerEntry } from "../../core/Worker.ts"
import type { ActorObserver } from "../scheduler/ActorHost.ts"
import {
  type Backend,
  type Connection,
  Dispatcher,
  type DispatcherOptions,
  type Timers,
  type WorkerEvents
} from "../scheduler/Dispatcher.ts"
import { type FromWorker, Op, type Outcome, resultStride, runStride, type ToWorker } from "../protocol/protocol.ts"
import type { Process, World } from "./SimulatedWorld.ts"
import { WorkerRuntime } from "../worker/WorkerRuntime.ts"

/** A closed range of virtual milliseconds; each use draws from it. */
export interface Range {
  readonly min: number
  readonly max: number
}

export type OutcomeName =
  | "Success"
  | "Failure"
  | "Defect"
  | "PayloadInvalid"
  | "Interrupted"
  | "Timeout"
  | "Lost"
  | "Unavailable"

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

export interface SimulatedPoolOptions {
  readonly world: World
  /** The process the pool (and its caller) runs on. */
  readonly caller: Process
  readonly pool: number
  readonly entry: WorkerEntry
  /** The whole plan; a fault applies here when its `pool` (default 0) is this pool. */
  readonly faults: ReadonlyArray<Fault>
  readonly latency: Range
  readonly work: Range
  readonly record: (event: Event) => void
  readonly dispatcher: Omit<DispatcherOptions, "timers" | "onDispatch">
}

export interface SimulatedPool {
  readonly dispatcher: Dispatcher
  /** The dispatcher as callers use it, with submissions, cancels and outcomes traced. */
  readonly client: PoolClient
  /** The pool's virtual timers, and what traces an actor host's decisions: for hosting actors. */
  readonly timers: Timers
  readonly actorObserver: ActorObserver
  readonly summary: () => PoolSummary
}

export const makeSimulatedPool = (options: SimulatedPoolOptions): SimulatedPool => {
  const { world, caller, pool, record } = options
  const faults = options.faults.filter((fault) => (fault.pool ?? 0) === pool)
  const workers = new Map<number, SimWorker>()
  const submissionIds = new WeakMap<Submission, number>()
  const wire = new Map<number, WireTask>()
  let nextSubmission = 0
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
  const die = (worker: SimWorker, fate: WorkerFate, reason: string) => {
    if (!worker.process.alive) return
    worker.process.kill()
    worker.fate = fate
    toPool(worker, () => {
      record({ _tag: "Exit", at: world.now, pool, worker: worker.id, reason })
      tasksInFlight -= worker.unanswered.size
      worker.unanswered.clear()
      worker.outstanding = 0
      worker.events.onExit(reason)
    })
  }

  const crash = (worker: SimWorker, fault: Fault["_tag"]) => {
    if (!worker.process.alive) return
    record({ _tag: "Crash", at: world.now, pool, worker: worker.id, fault })
    die(worker, "crashed", `crashed: simulated fault ${fault}`)
  }

  /** Worker → pool. */
  const post = (worker: SimWorker, message: FromWorker) => {
    if (!worker.process.alive) return
    if (message[0] === Op.Ready && worker.has("CrashOnInit")) return crash(worker, "CrashOnInit")
    const copy = structuredClone(message)
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
        for (let i = 1; i < message.length; i += resultStride) {
          const id = message[i] as number
          record({ _tag: "Reply", at, pool, worker: worker.id, task: id, outcome: outcomeName(message[i + 1] as Outcome) })
          const answered = worker.unanswered.get(id)
          if (answered === undefined) continue
          worker.unanswered.delete(id)
          tasksInFlight--
          if (--answered.remaining === 0) worker.outstanding--
        }
        break
    }
    worker.events.onMessage(message)
  }

  /** Pool → worker. */
  const send = (worker: SimWorker, message: ToWorker) => {
    const at = world.now
    const copy = structuredClone(message) as unknown as Array<unknown>
    switch (message[0]) {
      case Op.Run: {
        const tasks: Array<WireTask> = []
        const sent = { remaining: 0 }
        for (let i = 1; i < copy.length; i += runStride) {
          const id = copy[i] as number
          tasks.push(wire.get(id) ?? { id, submission: -1, index: -1, attempt: 0 })
          wire.delete(id)
          worker.unanswered.set(id, sent)
          sent.remaining++
          if (faults.some((f) => f._tag === "CorruptPayload" && f.task === dispatchedTasks)) {
            record({ _tag: "Corrupt", at, pool, worker: worker.id, task: id })
            copy[i + 2] = corrupted
          }
          dispatchedTasks++
        }
        record({ _tag: "Dispatch", at, pool, worker: worker.id, tasks })
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
      void worker.runtime.shutdown(copy[1] as number).then(() => die(worker, "exited", "exited with code 0"))
    })
  }

  const backend: Backend = {
    spawn: (workerId: number, events: WorkerEvents): Connection => {
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
      worker.runtime = new WorkerRuntime(instrument(options, worker, mine, crash, record), workerId, (message) =>
        post(worker, message), {
        services: process.services,
        now: () => world.now,
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
      record({ _tag: workerId < options.dispatcher.size ? "Spawn" : "Restart", at: world.now, pool, worker: workerId })
      for (const fault of mine) {
        if (fault._tag === "CrashAt") process.setTimer(fault.millis, () => crash(worker, "CrashAt"))
      }
      // Starting a thread takes a while too.
      process.setTimer(latency(worker), () => void worker.runtime.start())
      return {
        send: (message) => send(worker, message),
        terminate: () => {
          if (!process.alive) return
          record({ _tag: "Terminate", at: world.now, pool, worker: workerId })
          die(worker, "terminated", "was terminated")
        }
      }
    }
  }

  const timers: Timers = {
    set: (millis, f) => caller.setTimer(millis, f),
    // Like `clearTimeout`, clearing nothing is fine: the dispatcher clears timers it may not have set.
    clear: (timer) => {
      if (timer !== undefined) caller.clearTimer(timer as ReturnType<Process["setTimer"]>)
    }
  }

  const dispatcher = new Dispatcher(backend, {
    ...options.dispatcher,
    timers,
    onDispatch: (_workerId, taskId, submission, index, attempts) => {
      wire.set(taskId, { id: taskId, submission: submissionIds.get(submission) ?? -1, index, attempt: attempts })
    }
  })

  const client: PoolClient = {
    size: dispatcher.size,
    // Set once the layer hosts the group's actors (`hostActors`).
    get actors() {
      return dispatcher.actors
    },
    submit: (submission: Submission): Ticket => {
      const id = nextSubmission++
      record({
        _tag: "Submit",
        at: world.now,
        pool,
        submission: id,
        task: submission.taskName,
        count: submission.payloads.length,
        chunkSize: submission.chunkSize
      })
      const traced: Submission = {
        ...submission,
        settle: (index, outcome, value, workerId, attempts) => {
          record({ _tag: "Settle", at: world.now, pool, submission: id, index, outcome: outcomeName(outcome), worker: workerId, attempts })
          submission.settle(index, outcome, value, workerId, attempts)
        }
      }
      submissionIds.set(traced, id)
      const ticket = dispatcher.submit(traced)
      let cancelled = false
      return {
        cancel: () => {
          if (!cancelled) record({ _tag: "Cancel", at: world.now, pool, submission: id })
          cancelled = true
          return ticket.cancel()
        }
      }
    }
  }

  const summary = (): PoolSummary => ({
    pool,
    size: options.dispatcher.size,
    pipelineDepth: options.dispatcher.pipelineDepth,
    retries: options.dispatcher.retries,
    workers: [...workers.values()].map((worker) => ({ id: worker.id, fate: worker.fate, finalized: worker.finalized })),
    maxOutstandingMessages: maxOutstanding,
    maxTasksInFlight
  })

  const actorObserver: ActorObserver = {
    onSpawn: (actor, name) => record({ _tag: "ActorSpawn", at: world.now, pool, actor, name }),
    onCall: (call, actor, method, from) => record({ _tag: "ActorCall", at: world.now, pool, actor, call, method, from }),
    onAnswer: (call, actor, outcome, worker) =>
      record({ _tag: "ActorAnswer", at: world.now, pool, actor, call, outcome: outcomeName(outcome), worker }),
    onCancel: (call, actor) => record({ _tag: "ActorCancel", at: world.now, pool, actor, call }),
    onRestart: (actor, restarts, after) => record({ _tag: "ActorRestart", at: world.now, pool, actor, restarts, after }),
    onDead: (actor) => record({ _tag: "ActorDead", at: world.now, pool, actor }),
    onStop: (actor) => record({ _tag: "ActorStop", at: world.now, pool, actor }),
    onStopped: (actor) => record({ _tag: "ActorStopped", at: world.now, pool, actor })
  }

  return { dispatcher, client, timers, actorObserver, summary }
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
  options: SimulatedPoolOptions,
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

const outcomeNames: ReadonlyArray<OutcomeName> = [
  "Success",
  "Failure",
  "Defect",
  "PayloadInvalid",
  "Interrupted",
  "Timeout",
  "Lost",
  "Unavailable"
]

const outcomeName = (outcome: Outcome): OutcomeName => outcomeNames[outcome] ?? "Lost"
