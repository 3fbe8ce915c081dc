/**
 * The worker side of the protocol (see `protocol.ts`): builds the entry's per-worker Layer, runs
 * tasks one at a time in arrival order, and reports outcomes in batches.
 *
 * Hosted by a worker thread (`threadMain.ts`) or, for the inline backend, by the caller's own
 * thread; the host only moves messages.
 *
 * Rules:
 * 1. At most one task runs at a time; tasks start in arrival order.
 * 2. Every task received is answered exactly once: with its outcome, or `Interrupted` when a
 *    `Cancel` or `Shutdown` reached it first.
 * 3. A task runs as its own fiber over the per-worker Layer's services, so interrupting it runs
 *    its finalizers and leaves the Layer alive.
 * 4. A result waits at most `flushAfterMillis` to be sent, also while a later task of its message
 *    runs long: a timer (on the worker's Clock) sends it then.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { Any } from "../../core/Task.ts"
import { type WorkerEntry, WorkerInfo } from "../../core/Worker.ts"
import { WorkerTransport } from "../client/PoolClient.ts"
import { type Codec, codecOf } from "../protocol/codec.ts"
import { type FromWorker, Op, Outcome, type RemoteError, runStride, toRemoteError, type ToWorker } from "../protocol/protocol.ts"
import { type ActorHooks, causeToRemote, outcomeOf, WorkerActors } from "./WorkerActors.ts"

/** Results are sent when this many are waiting… */
const flushEvery = 512
/** …or when the oldest has waited this long, so long batches report progress. */
const flushAfterMillis = 10

interface Item {
  readonly id: number
  readonly task: Any | undefined
  readonly taskName: string
  readonly payload: unknown
  readonly timeoutMillis: number
  cancelled: boolean
  startedAt: number
}

const TimedOut = Symbol.for("effect-parallel/WorkerRuntime/TimedOut")

/** What a host may change about how a runtime runs; threads and inline use the defaults. */
export interface RuntimeHost {
  /** Services every fiber of this worker runs with: the simulation's Clock, Scheduler and Random. */
  readonly services?: Context.Context<never> | undefined
  /** Milliseconds, for timeout verdicts and result batching. Default `performance.now`. */
  readonly now?: (() => number) | undefined
  /** Called as a task's handler is about to run (after its payload decoded). */
  readonly onStart?: ((id: number) => void) | undefined
  /** What the host observes of the worker's actors. */
  readonly actors?: ActorHooks | undefined
}

const performanceNow = () => performance.now()

export class WorkerRuntime {
  private readonly entry: WorkerEntry
  private readonly workerId: number
  private readonly post: (message: FromWorker) => void
  private readonly services: Context.Context<never>
  private readonly now: () => number
  private readonly onStart: ((id: number) => void) | undefined
  private scope: Scope.Closeable | undefined
  private runFork: (<A, E>(effect: Effect.Effect<A, E, any>) => Fiber.Fiber<A, E>) | undefined
  private queue: Array<Item> = []
  private head = 0
  private running: { readonly item: Item; readonly fiber: Fiber.Fiber<unknown, unknown> } | undefined
  private results: Array<unknown> = [Op.Results]
  private oldestResultAt = 0
  private flushArmed = false
  private closing = false
  private readonly actors: WorkerActors

  constructor(entry: WorkerEntry, workerId: number, post: (message: FromWorker) => void, host?: RuntimeHost) {
    this.entry = entry
    this.workerId = workerId
    this.post = post
    this.services = host?.services ?? Context.empty()
    this.now = host?.now ?? performanceNow
    this.onStart = host?.onStart
    this.actors = new WorkerActors(entry, post, () => this.runFork!, Effect.runPromiseWith(this.services), host?.actors)
  }

  /** Builds the per-worker Layer, then reports `Ready` or `InitFailed`. */
  async start(): Promise<void> {
    const scope = Scope.makeUnsafe()
    this.scope = scope
    const info = Context.make(WorkerInfo, { id: this.workerId })
    const build = this.entry.layer === undefined
      ? Effect.succeed(info)
      : Effect.map(
        Layer.buildWithScope(Layer.provide(this.entry.layer, Layer.succeedContext(info)), scope),
        (services) => Context.merge(info, services)
      )
    const exit = await Effect.runPromiseExitWith(this.services)(build)
    if (Exit.isFailure(exit)) {
      this.post([Op.InitFailed, causeToRemote(exit.cause)])
      return
    }
    // Handlers reach actors whose handles they received through this worker's pool.
    const transport = Context.make(WorkerTransport, this.actors.transport)
    this.runFork = Effect.runForkWith(Context.merge(Context.merge(this.services, exit.value), transport))
    this.post([Op.Ready])
  }

  receive(message: ToWorker): void {
    switch (message[0]) {
      case Op.Run:
        return this.enqueue(message)
      case Op.Cancel:
        return this.cancel([Op.Cancel, ...this.actors.cancel(message.slice(1) as Array<number>)])
      case Op.Shutdown:
        return void this.shutdown(message[1])
      case Op.Spawn:
        if (this.closing) return this.post([Op.Spawned, message[1], Outcome.Lost, "the worker is shutting down"])
        return this.actors.spawn(message[1], message[2], message[3])
      case Op.Call:
        return this.actors.call(message[1], message[2], message[3], message[4])
      case Op.Stop:
        return void this.actors.stop(message[1])
      case Op.Answer:
        return this.actors.answer(message[1], message[2], message[3])
    }
  }

  /** Interrupts everything, runs the per-worker Layer's finalizers within the timeout, says `Closed`. */
  async shutdown(exitTimeoutMillis: number): Promise<void> {
    if (this.closing) return
    this.closing = true
    for (let i = this.head; i < this.queue.length; i++) this.interruptQueued(this.queue[i]!)
    const running = this.running
    if (running !== undefined) {
      running.item.cancelled = true
      await new Promise<void>((resolve) => {
        running.fiber.addObserver(() => resolve())
        running.fiber.interruptUnsafe()
      })
    }
    this.flush()
    // Actors before the worker's Layer: their finalizers may still use its services.
    await this.actors.stopAll()
    if (this.scope !== undefined) {
      await Effect.runPromiseWith(this.services)(
        Scope.close(this.scope, Exit.void).pipe(Effect.timeoutOption(Duration.millis(exitTimeoutMillis)))
      )
    }
    this.post([Op.Closed])
  }

  private enqueue(fields: ReadonlyArray<unknown>): void {
    if (this.closing) {
      for (let i = 1; i < fields.length; i += runStride) this.push(fields[i] as number, Outcome.Interrupted, undefined)
      return this.flush()
    }
    const tasks = this.entry.group.tasks
    for (let i = 1; i < fields.length; i += runStride) {
      const taskName = fields[i + 1] as string
      this.queue.push({
        id: fields[i] as number,
        task: tasks[taskName],
        taskName,
        payload: fields[i + 2],
        timeoutMillis: fields[i + 3] as number,
        cancelled: false,
        startedAt: 0
      })
    }
    if (this.running === undefined) this.drain()
  }

  private cancel(message: ReadonlyArray<number>): void {
    const wanted = new Set(message.slice(1))
    if (this.running !== undefined && wanted.has(this.running.item.id)) {
      this.running.item.cancelled = true
      this.running.fiber.interruptUnsafe()
    }
    for (let i = this.head; i < this.queue.length; i++) {
      const item = this.queue[i]!
      if (wanted.has(item.id)) this.interruptQueued(item)
    }
    this.flush()
  }

  private interruptQueued(item: Item): void {
    if (item.cancelled) return
    item.cancelled = true
    this.push(item.id, Outcome.Interrupted, undefined)
  }

  /** Runs queued tasks until one goes asynchronous or the queue is empty (rule 1). */
  private drain(): void {
    while (this.running === undefined && this.head < this.queue.length) {
      const item = this.queue[this.head++]!
      if (!item.cancelled) this.runItem(item)
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
      this.flush()
    } else {
      // A task went asynchronous with work queued behind it: what is done must not wait for it (rule 4).
      this.armFlush()
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        // Under steady traffic the queue never empties: drop the finished prefix now and then.
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
    }
  }

  /** Rule 4: sends the waiting results once the oldest is `flushAfterMillis` old. */
  private armFlush(): void {
    if (this.flushArmed || this.results.length === 1) return
    this.flushArmed = true
    const wait = Math.max(0, this.oldestResultAt + flushAfterMillis - this.now())
    this.runFork!(Effect.andThen(
      Effect.sleep(Duration.millis(wait)),
      Effect.sync(() => {
        this.flushArmed = false
        this.flush()
      })
    ))
  }

  private runItem(item: Item): void {
    const task = item.task
    const handler = this.entry.handlers[item.taskName]
    if (task === undefined || handler === undefined) {
      return this.push(item.id, Outcome.Defect, {
        name: "UnknownTask",
        message: `this worker does not serve task "${item.taskName}"`,
        stack: ""
      } satisfies RemoteError)
    }
    const codec = codecOf(task)
    const decoded = codec.decodePayload(item.payload)
    if (decoded.issue !== undefined) return this.push(item.id, Outcome.PayloadInvalid, decoded.issue)
    this.onStart?.(item.id)
    let effect: Effect.Effect<unknown, unknown, any>
    try {
      effect = handler(decoded.value)
    } catch (error) {
      return this.push(item.id, Outcome.Defect, toRemoteError(error))
    }
    // `Effect.succeed`/`Effect.fail` are already Exits: no fiber needed.
    if (item.timeoutMillis === 0 && Exit.isExit(effect)) return this.finish(item, codec, effect)
    if (item.timeoutMillis > 0) {
      item.startedAt = this.now()
      this.post([Op.Started, item.id])
      effect = Effect.timeoutOrElse(effect, {
        duration: Duration.millis(item.timeoutMillis),
        orElse: () => Effect.fail(TimedOut)
      })
    }
    const fiber = this.runFork!(effect)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) return this.finish(item, codec, exit)
    this.running = { item, fiber }
    fiber.addObserver((exit) => {
      this.running = undefined
      this.finish(item, codec, exit)
      this.drain()
    })
  }

  private finish(item: Item, codec: Codec, exit: Exit.Exit<unknown, unknown>): void {
    // A handler that blocks its thread cannot be interrupted by its timer; judge it by the clock.
    if (item.timeoutMillis > 0 && !item.cancelled && this.now() - item.startedAt > item.timeoutMillis) {
      return this.push(item.id, Outcome.Timeout, undefined)
    }
    if (!item.cancelled && Exit.isFailure(exit)) {
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some" && error.value === TimedOut) return this.push(item.id, Outcome.Timeout, undefined)
    }
    const [outcome, value] = outcomeOf(codec, exit, item.cancelled)
    this.push(item.id, outcome, value)
  }

  private push(id: number, outcome: Outcome, value: unknown): void {
    const now = this.now()
    if (this.results.length === 1) this.oldestResultAt = now
    this.results.push(id, outcome, value)
    if (this.results.length >= flushEvery * 3 || now - this.oldestResultAt >= flushAfterMillis) this.flush()
  }

  private flush(): void {
    if (this.results.length === 1) return
    const results = this.results
    this.results = [Op.Results]
    this.post(results as unknown as FromWorker)
  }
}
