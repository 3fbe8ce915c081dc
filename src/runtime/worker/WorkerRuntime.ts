/**
 * The worker side of the protocol (see `protocol.ts`): builds the entry's per-worker Layer, runs
 * tasks one at a time in arrival order, and reports outcomes in batches.
 *
 * Hosted by a worker thread (`threadMain.ts`) or, for the inline backend, by the caller's own
 * thread; the host only moves messages.
 *
 * Rules:
 * 1. At most one task runs at a time; tasks start in arrival order. Each task taken off the
 *    queue (run, rejected or skipped) is counted in the host's `tasksTaken` before anything of
 *    it runs, so after a crash the pool knows which tasks never started (its rule 7).
 * 2. Every task received is answered exactly once: with its outcome, or `Interrupted` when a
 *    `Cancel` or `Shutdown` reached it first. A `Cancel` marks the queued tasks it names before
 *    it interrupts the running one: an interrupted task's finalizers may let the next task
 *    start, and that must not be a cancelled one.
 * 3. A task runs as its own fiber over the per-worker Layer's services, so interrupting it runs
 *    its finalizers and leaves the Layer alive — unless it needs none: an untraced handler that
 *    returns `Effect.succeed`/`fail`, or `Effect.sync`/`try` (run at once, `handler.ts`
 *    `runSyncHead`), has nothing to interrupt and no finalizers, and is answered without one.
 * 4. A result waits at most `flushAfterMillis` to be sent, also while a later task of its message
 *    runs long asynchronously: a timer (on the worker's Clock) sends it then; a later task that
 *    blocks the thread holds it until it ends (flushing before every task would cost coalesced
 *    runs their shared messages of answers). Before the first task of a message, the answers
 *    waiting go out if `messageFlushMillis` or more passed between the answers sent last and the
 *    latest one (a message's worth of work, unless the worker waited): the pool then sends this
 *    worker its next message while it runs this one (the pool's messages hold ~2 ms of work, its
 *    rule 12; held until the queue ran dry, they left the worker idle for a round trip every
 *    two). A task with a timeout has a backstop
 *    timer in the pool (from its `Started`): its answer is sent before the next task starts, since
 *    a next task that blocks the thread would hold it (no timer fires in a blocked thread) until
 *    the backstop took the finished task for a timed-out one and terminated the worker (found by
 *    the chaos soak: a `fail` task answered `Timeout` behind a task that blocked for 1.5 s). For
 *    the same reason the answers waiting are sent before a task with a timeout starts: if it
 *    blocks, the backstop terminates the worker, and they were lost with it (`WorkerLost`).
 * 5. A result that moves buffers (`memory: "moved"`) lists them with its answer; a message of
 *    answers transfers the union of its answers' lists, and an answer sent alone (when its message
 *    could not be sent) its own.
 * 6. With a heap threshold, the heap is read after answers are sent (about 1 µs, once per message
 *    of answers, not per task) and reported once, when above it; without one, never.
 * 7. Timings read the pool's clock once per task: a timed task that starts straight after the
 *    previous one ended, in the same synchronous run of the queue, starts when that one ended
 *    (`boundary`); the first of a run, and the first after answers were sent, read it anew. A
 *    task's time thus covers its decode, handler and encode, and the few steps between two
 *    handlers (taking it off the queue: ~0.05 µs). The second read per task cost 5–8% of a
 *    1 µs task's throughput (`npm run bench -- overhead`, `map+insights`). Traced tasks take
 *    their start from `boundary` too; a task that neither is timed nor traced clears it, so a
 *    boundary is always the end of the task just before.
 * 8. A traced task that answered without a fiber, successfully, in under `mergeSpansBelowMillis`,
 *    shares the span of the same task's runs straight before it with the same caller (same trace
 *    context, same task name, nothing else run between them, no answers sent between them): one
 *    span from the first start to the last end, its task count in `effect_parallel.tasks`. A span
 *    costs about 1 µs from here to the caller's tracer, the price of several such tasks: a traced
 *    map of tiny tasks ran at 0.55x of an untraced one with a span each. Failed, slow and fibered
 *    tasks (whose own spans may have children) keep a span of their own.
 * 9. With a `busyMicros` cell (or `recordBusy`), the worker counts the time it is busy — from taking work while idle
 *    until nothing is left to run, waits of its asynchronous tasks included (one task at a time) —
 *    and publishes it there just before it sends answers, so the pool learns what a task costs
 *    (its rule 12) from the worker's clock, whatever its own thread was doing meanwhile. One clock
 *    read per run of the queue, as it starts; the busy time runs to the latest answer's time,
 *    read for that answer anyway.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { fromWireName, isFused } from "../../core/Fusion.ts"
import type { Any } from "../../core/Task.ts"
import { type WorkerEntry, WorkerInfo } from "../../core/Worker.ts"
import { WorkerTransport } from "../client/ActorTransport.ts"
import { type Codec, codecOf } from "../protocol/codec.ts"
import { snapshotForWire } from "../protocol/metricsWire.ts"
import {
  type FromWorker,
  Op,
  Outcome,
  poolClock,
  pushResult,
  Result,
  ResultTimed,
  firstAnswer,
  Run,
  firstRun,
  RunOneTrace,
  RunTraced,
  runStride,
  SameName,
  SameTrace,
  SpanField,
  type ToWorker
} from "../protocol/protocol.ts"
import { causeToRemote, fusedHandler, invoke, outcomeOf, recordHandlerSpan, type SpanBuffer, traced, unknownHandler } from "./handler.ts"
import { type ActorHooks, WorkerActors } from "./WorkerActors.ts"

/** Rule 8: a fiber-less traced task shorter than this shares its predecessor's span. */
const mergeSpansBelowMillis = 0.05

/** Results are sent when this many are waiting… */
const flushEvery = 512
/** …or when the oldest has waited this long, so long batches report progress. */
const flushAfterMillis = 10

/**
 * Rule 4: answers that took at least this long go out before the next message's tasks start, so
 * the pool can send more while they run; quicker ones wait to share a message of answers.
 */
const messageFlushMillis = 1

interface Item {
  readonly id: number
  readonly task: Any | undefined
  readonly taskName: string
  readonly payload: unknown
  readonly timeoutMillis: number
  /** Its answer reports when its handler ran (`RunTimed`). */
  readonly timed: boolean
  /** Its caller's trace context (`RunTraced`), when the caller was traced. */
  readonly trace: string | undefined
  cancelled: boolean
  /** When its handler started, on `now` (timeouts). */
  startedAt: number
  /** It is the first task of its message (rule 4). */
  readonly first: boolean
}

/** How a handler's timeout ends it: inside its span, whose failure then says so (not "interrupted"). */
class TimedOut extends Error {}

/** Sends a message to the pool, moving the buffers in `transfer` (see `Connection.send`). */
export type Post = (message: FromWorker, transfer?: ReadonlyArray<ArrayBuffer>) => void

/** The buffers each queued answer moves, by position; `undefined` while none of them moves one. */
type AnswerTransfers = Array<ReadonlyArray<ArrayBuffer> | undefined> | undefined

/** What a host may change about how a runtime runs; threads and inline use the defaults. */
export interface RuntimeHost {
  /** Services every fiber of this worker runs with: the simulation's Clock, Scheduler and Random. */
  readonly services?: Context.Context<never> | undefined
  /** Milliseconds, for timeout verdicts and result batching. Default `performance.now`. */
  readonly now?: (() => number) | undefined
  /** Milliseconds on the pool's clock, for timings. Default `performance.timeOrigin + performance.now()`. */
  readonly clock?: (() => number) | undefined
  /** Where the worker counts the tasks it took off its queue (rule 1), shared with the pool. */
  readonly tasksTaken?: Int32Array | undefined
  /** Or, for hosts that share no memory with the pool, how it records that count (a child process's file). */
  readonly countTaken?: ((taken: number) => void) | undefined
  /** Where the worker publishes, as it sends answers, how long it has been busy (rule 9), shared with the pool. */
  readonly busyMicros?: Int32Array | undefined
  /** Or, for hosts that share no memory with the pool, how it records that time (a child process's file). */
  readonly recordBusy?: ((micros: number) => void) | undefined
  /** Called as a task's handler is about to run (after its payload decoded). */
  readonly onStart?: ((id: number) => void) | undefined
  /** What the host observes of the worker's actors. */
  readonly actors?: ActorHooks | undefined
  /**
   * The pool's `recycleAboveHeapMb`, in bytes, and how to read the heap used: sampled whenever
   * answers are sent; the first time it is above, the worker says `[Heap, bytes]` (rule 6).
   */
  readonly heapThreshold?: { readonly bytes: number; readonly used: () => number } | undefined
}

const performanceNow = () => performance.now()

export class WorkerRuntime {
  private readonly entry: WorkerEntry
  private readonly workerId: number
  private readonly post: (message: FromWorker, transfers?: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined>) => void
  private readonly services: Context.Context<never>
  private readonly now: () => number
  private readonly clock: () => number
  private readonly tasksTaken: Int32Array | undefined
  private readonly countTaken: ((taken: number) => void) | undefined
  private taken = 0
  /** Rule 9: the busy time published so far, and since when it is busy again (`NaN`: idle). */
  private readonly recordBusy: ((micros: number) => void) | undefined
  private busyBefore = 0
  private busySince = Number.NaN
  private readonly onStart: ((id: number) => void) | undefined
  private scope: Scope.Closeable | undefined
  /** The per-worker Layer's build while it runs (`start`). */
  private building: Fiber.Fiber<unknown, unknown> | undefined
  private runFork: (<A, E>(effect: Effect.Effect<A, E, any>) => Fiber.Fiber<A, E>) | undefined
  /** What handlers run with: the per-worker Layer's services (its metric registry among them). */
  private context: Context.Context<never> | undefined
  /** Sends this worker's metrics while the pool watches them (`WatchMetrics`). */
  private metricsFiber: Fiber.Fiber<unknown, unknown> | undefined
  private readonly fusedHandlers = new Map<string, (payload: unknown) => Effect.Effect<unknown, unknown, any>>()
  private queue: Array<Item> = []
  private head = 0
  private running: { readonly item: Item; readonly fiber: Fiber.Fiber<unknown, unknown> } | undefined
  private results: Array<unknown> = [Op.Results]
  /** `[ResultsTimed, times, …answers]`: `times` is set from `this.times` as the message is sent. */
  private timedResults: Array<unknown> = [Op.ResultsTimed, undefined]
  /** When each timed answer's handler ran, two numbers an answer, and how many answers are in it. */
  private times = new Float64Array(2 * flushEvery)
  private timedCount = 0
  /** Rule 5. */
  private resultTransfers: AnswerTransfers = undefined
  private timedTransfers: AnswerTransfers = undefined
  /** Spans of traced tasks, sent before their results (`[Spans, id, records, …]`). */
  private spans: Array<unknown> = [Op.Spans]
  private unsentCount = 0
  /** Rule 4: an unsent answer is of a task with a timeout. */
  private unsentTimed = false
  private oldestResultAt = 0
  /** Rule 4: when the latest answer was queued, and the latest queued when answers last went out. */
  private lastAnswerAt = 0
  private flushedAt = 0
  private flushArmed = false
  private closing = false
  private readonly actors: WorkerActors
  private heapThreshold: RuntimeHost["heapThreshold"]
  /**
   * When the running task's handler started (timed or traced) and, once read, ended (a traced
   * task's span reads it first); `clockedItem` is that task while its answer will carry the times
   * (timed), cleared as it is answered so it holds no payload longer. Kept here, not on each
   * task: one task runs at a time (rule 1), and clock fields on every queued task cost an
   * allocation each.
   */
  private clockedItem: Item | undefined = undefined
  private clockedStart = 0
  private clockedEnd = 0
  /** Rule 7: when the previous timed or traced task ended, while the queue runs on without a break; else -1. */
  private boundary = -1
  /** Rule 7: the pool's clock at the end of the traced task about to be answered (0: not read). */
  private answerClock = 0
  /** `clock() - now()`: answers derive `now` from a clock read taken for a timing. */
  private readonly clockOffset: number
  /** Rule 8: where the open shared span's record starts in `spans` (-1: none), and whose it is. */
  private mergedAt = -1
  private mergedTrace = ""
  private mergedName = ""
  private mergedCount = 0
  private mergedEnd = 0

  constructor(entry: WorkerEntry, workerId: number, post: Post, host?: RuntimeHost) {
    this.entry = entry
    this.workerId = workerId
    this.post = answersSurvive(post)
    this.services = host?.services ?? Context.empty()
    this.now = host?.now ?? performanceNow
    this.clock = host?.clock ?? poolClock
    this.clockOffset = this.clock() - this.now()
    this.tasksTaken = host?.tasksTaken
    this.countTaken = host?.countTaken
    const busyMicros = host?.busyMicros
    this.recordBusy = busyMicros !== undefined ? (micros) => Atomics.store(busyMicros, 0, micros) : host?.recordBusy
    this.onStart = host?.onStart
    this.heapThreshold = host?.heapThreshold
    this.actors = new WorkerActors(entry, this.post, () => this.runFork!, Effect.runPromiseWith(this.services), this.clock, host?.actors)
  }

  /** Builds the per-worker Layer, then reports `Ready` or `InitFailed`; a shutdown meanwhile interrupts the build. */
  async start(): Promise<void> {
    const initStartedAt = this.clock()
    const scope = Scope.makeUnsafe()
    this.scope = scope
    const info = Context.make(WorkerInfo, { id: this.workerId })
    const build = this.entry.layer === undefined
      ? Effect.succeed(info)
      : Effect.map(
        Layer.buildWithScope(Layer.provide(this.entry.layer, Layer.succeedContext(info)), scope),
        (services) => Context.merge(info, services)
      )
    // A fiber, so a shutdown while it builds can interrupt it: an inline worker's hanging Layer
    // (a model that never loads) ran on in the caller's thread after its pool gave up on it.
    const building = Effect.runForkWith(this.services)(build)
    this.building = building
    const exit = await new Promise<Exit.Exit<Context.Context<never>, unknown>>((resolve) => building.addObserver(resolve))
    this.building = undefined
    if (this.closing) return
    if (Exit.isFailure(exit)) {
      this.post([Op.InitFailed, causeToRemote(exit.cause)])
      return
    }
    // Handlers reach actors whose handles they received through this worker's pool.
    const transport = Context.make(WorkerTransport, this.actors.transport)
    this.context = Context.merge(Context.merge(this.services, exit.value), transport)
    this.runFork = Effect.runForkWith(this.context as Context.Context<any>)
    const { actors, tasks } = this.entry.group
    this.post([Op.Ready, initStartedAt, [...Object.keys(tasks), ...Object.keys(actors)]])
  }

  receive(message: ToWorker): void {
    switch (message[0]) {
      case Op.Run:
      case Op.RunTraced:
      case Op.RunOneTrace:
        return this.enqueue(message, false)
      case Op.RunTimed:
      case Op.RunTimedTraced:
      case Op.RunTimedOneTrace:
        return this.enqueue(message, true)
      case Op.Cancel:
        return this.cancel([Op.Cancel, ...this.actors.cancel(message.slice(1) as Array<number>)])
      case Op.Shutdown:
        return void this.shutdown(message[1])
      case Op.Spawn:
        if (this.closing) return this.post([Op.Spawned, message[1], Outcome.Closed, "the worker is shutting down"])
        return this.actors.spawn(message[1], message[2], message[3])
      case Op.Call:
        return this.actors.call(message[1], message[2], message[3], message[4])
      case Op.CallTraced:
        return this.actors.call(message[1], message[2], message[3], message[4], message[5])
      case Op.CallTimed:
        return this.actors.call(message[1], message[2], message[3], message[4], message[5], true)
      case Op.Spans:
        return this.actors.spans(message)
      case Op.Stop:
        return void this.actors.stop(message[1])
      case Op.Answer:
        return this.actors.answer(message[1], message[2], message[3])
      case Op.WatchMetrics:
        return this.watchMetrics(message[1])
    }
  }

  /** Sends what this worker's metric registry holds every `intervalMillis` (0: stops), and now. */
  private watchMetrics(intervalMillis: number): void {
    if (this.metricsFiber !== undefined) {
      this.metricsFiber.interruptUnsafe()
      this.metricsFiber = undefined
    }
    if (intervalMillis <= 0 || this.runFork === undefined || this.closing) return
    this.sendMetrics()
    this.metricsFiber = this.runFork(Effect.forever(Effect.andThen(
      Effect.sleep(Duration.millis(intervalMillis)),
      Effect.sync(() => this.sendMetrics())
    )))
  }

  private sendMetrics(): void {
    if (this.context !== undefined) this.post([Op.Metrics, snapshotForWire(this.context)])
  }

  /** Interrupts everything, runs the per-worker Layer's finalizers within the timeout, says `Closed`. */
  async shutdown(exitTimeoutMillis: number): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.building?.interruptUnsafe()
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
    // Actors before the worker's Layer: their finalizers may still use its services. One budget
    // for both (exit hooks run within exitTimeout): an actor finalizer that hung held the worker
    // until shutdownTimeout terminated it, and the Layer's hooks never ran.
    // No actors, no wait at all: an inline worker's exit stays synchronous (its recycling relies on it).
    const run = Effect.runPromiseWith(this.services)
    let leftMillis = exitTimeoutMillis
    if (this.actors.hasActors()) {
      const startedAt = await run(Clock.currentTimeMillis)
      await run(Effect.promise(() => this.actors.stopAll()).pipe(Effect.timeoutOption(Duration.millis(exitTimeoutMillis))))
      leftMillis = Math.max(0, exitTimeoutMillis - ((await run(Clock.currentTimeMillis)) - startedAt))
    }
    if (this.scope !== undefined) {
      // Closed in a fiber of its own, and only the wait for it timed out: a timeout on the close
      // itself waits for the finalizers it interrupts (they are uninterruptible), so exitTimeout
      // cut off nothing and a hook that hung held the worker until shutdownTimeout terminated it.
      // Run at once, as a task is (`runItem`): hooks that finish synchronously need no wait.
      const closing = Effect.runForkWith(this.services)(Scope.close(this.scope, Exit.void))
      if (closing.pollUnsafe() === undefined) {
        await run(Fiber.await(closing).pipe(Effect.timeoutOption(Duration.millis(leftMillis))))
      }
    }
    if (this.metricsFiber !== undefined) {
      // The last values, exit hooks' included: a pool shorter than the interval still reports.
      this.metricsFiber.interruptUnsafe()
      this.metricsFiber = undefined
      this.sendMetrics()
    }
    this.post([Op.Closed])
  }

  private enqueue(fields: ReadonlyArray<unknown>, timed: boolean): void {
    const op = fields[0] as number
    const stride = runStride(op)
    const first = firstRun(op)
    const hasTrace = stride === RunTraced.stride
    if (this.closing) {
      for (let at = first; at < fields.length; at += stride) {
        this.take()
        this.push(fields[at + Run.id] as number, Outcome.Interrupted, undefined, undefined)
      }
      return this.flush()
    }
    const tasks = this.entry.group.tasks
    let trace = first === RunOneTrace.first ? fields[RunOneTrace.trace] as string | undefined : undefined
    let taskName = ""
    for (let at = first; at < fields.length; at += stride) {
      const name = fields[at + Run.taskName] as string | typeof SameName
      if (name !== SameName) taskName = name
      if (hasTrace) {
        const field = fields[at + RunTraced.trace] as string | undefined | typeof SameTrace
        if (field !== SameTrace) trace = field
      }
      this.queue.push({
        id: fields[at + Run.id] as number,
        task: tasks[taskName] ?? fromWireName(taskName, tasks),
        taskName,
        payload: fields[at + Run.payload],
        timeoutMillis: fields[at + Run.timeoutMillis] as number,
        timed,
        trace,
        cancelled: false,
        startedAt: 0,
        first: at === first
      })
    }
    if (this.running === undefined) this.drain()
  }

  /** Rule 1: one more task taken off the queue, counted where the pool can read it. */
  private take(): void {
    this.taken++
    if (this.tasksTaken !== undefined) Atomics.store(this.tasksTaken, 0, this.taken)
    else this.countTaken?.(this.taken)
  }

  private cancel(message: ReadonlyArray<number>): void {
    const wanted = new Set(message.slice(1))
    // Rule 2: queued ones first. Interrupting the running task may finish it synchronously, and
    // its end starts the next queued task: that must already be marked.
    for (let i = this.head; i < this.queue.length; i++) {
      const item = this.queue[i]!
      if (wanted.has(item.id)) this.interruptQueued(item)
    }
    const running = this.running
    if (running !== undefined && wanted.has(running.item.id)) {
      running.item.cancelled = true
      running.fiber.interruptUnsafe()
    }
    this.flush()
  }

  private interruptQueued(item: Item): void {
    if (item.cancelled) return
    item.cancelled = true
    this.push(item.id, Outcome.Interrupted, undefined, undefined)
  }

  /** Runs queued tasks until one goes asynchronous or the queue is empty (rule 1). */
  private drain(): void {
    this.boundary = -1
    if (this.recordBusy !== undefined && this.busySince !== this.busySince) this.busySince = this.now()
    while (this.running === undefined && this.head < this.queue.length) {
      const item = this.queue[this.head++]!
      // Rule 4: a message's worth of answers goes before the next message's tasks.
      if (item.first && this.unsentCount > 0 && this.lastAnswerAt - this.flushedAt >= messageFlushMillis) this.flush()
      this.take()
      if (!item.cancelled) this.runItem(item)
    }
    this.boundary = -1
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
    if (this.flushArmed || this.unsent() === 0) return
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
    // Rule 4: a task with a timeout may block until the backstop terminates this worker; what is
    // done must be out before it starts.
    if (this.unsentTimed || (item.timeoutMillis > 0 && this.unsent() > 0)) this.flush()
    const task = item.task
    const handler = this.entry.handlers[item.taskName] ?? this.fusedHandlerOf(item.taskName, task)
    if (task === undefined || handler === undefined) {
      return this.answer(item, unknownHandler("Task", item.taskName, "this worker"))
    }
    const codec = codecOf(task)
    // Rules 7 and 8: only the task just before may hand on its end or its span.
    const boundary = this.boundary
    this.boundary = -1
    // Timings and spans start before the payload's decode (a closure per task to read the clock
    // after it cost more than the decode): no closure unless the host watches starts.
    if (item.timed || item.trace !== undefined) {
      this.clockedItem = item.timed ? item : undefined
      this.clockedStart = boundary >= 0 ? boundary : this.clock()
      this.clockedEnd = 0
    }
    if (item.timeoutMillis > 0) {
      // Before the handler is even called: a handler may do its work in its body, before it
      // returns an Effect, and the pool's backstop (armed by `Started`) must cover that too.
      item.startedAt = this.now()
      this.post([Op.Started, item.id])
    }
    const invocation = invoke(
      codec,
      handler,
      item.payload,
      this.onStart === undefined ? undefined : () => this.onStart!(item.id),
      item.trace === undefined
    )
    if (invocation._tag === "Exit" && item.trace !== undefined) {
      // No fiber, no span of its own: its span is recorded by hand (its end is reused for the
      // timing), from before its body ran — a fiber's would start after. With a timeout too: an
      // Exit has nothing left to interrupt, and `finish` judges its time by the clock.
      this.clockedEnd = this.clock()
      this.boundary = this.clockedEnd
      this.answerClock = this.clockedEnd
      // A body that ran past its timeout is answered `Timeout` (`finish`): its span says so too.
      const overran = item.timeoutMillis > 0 && !item.cancelled && this.now() - item.startedAt > item.timeoutMillis
      this.recordFiberlessSpan(item, overran ? Exit.die(new Error(`timed out after ${item.timeoutMillis} ms`)) : invocation.exit)
      return this.finish(item, codec, invocation.exit)
    }
    // Rule 8: anything else run here ends the shared span.
    this.closeShared()
    if (invocation._tag === "Answer") return this.answer(item, invocation)
    if (item.timeoutMillis === 0 && invocation._tag === "Exit") return this.finish(item, codec, invocation.exit)
    let effect = invocation._tag === "Exit" ? invocation.exit : invocation.effect
    if (item.timeoutMillis > 0) {
      // What is left of its time after its body ran (a body past it is judged by `finish`).
      const timeoutMillis = item.timeoutMillis
      effect = Effect.timeoutOrElse(effect, {
        duration: Duration.millis(Math.max(0, timeoutMillis - (this.now() - item.startedAt))),
        orElse: () => Effect.fail(new TimedOut(`timed out after ${timeoutMillis} ms`))
      })
    }
    let spans: SpanBuffer | undefined
    if (item.trace !== undefined) {
      spans = { fields: [], count: 0 }
      effect = traced(effect, item.trace, item.taskName, spans)
    }
    const fiber = this.runFork!(effect)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      if (spans !== undefined) this.pushSpans(item.id, spans)
      return this.finish(item, codec, exit)
    }
    this.running = { item, fiber }
    fiber.addObserver((exit) => {
      this.running = undefined
      if (spans !== undefined) this.pushSpans(item.id, spans)
      this.finish(item, codec, exit)
      this.drain()
    })
  }

  /**
   * Rule 8: a short successful fiber-less task joins the open shared span when it is its caller's
   * and task's, else records its own. Joining only counts and moves the end in fields (a number
   * stored into the span message would be boxed, once per task); `closeShared` writes them.
   */
  private recordFiberlessSpan(item: Item, exit: Exit.Exit<unknown, unknown>): void {
    const start = this.clockedStart
    const end = this.clockedEnd
    const shares = Exit.isSuccess(exit) && end - start < mergeSpansBelowMillis
    if (shares && this.mergedAt >= 0 && this.mergedTrace === item.trace && this.mergedName === item.taskName) {
      this.mergedCount++
      this.mergedEnd = end
      return
    }
    this.closeShared()
    recordHandlerSpan(this.spanBuffer(item.id), item.taskName, start, end, exit)
    if (shares) {
      this.mergedAt = this.spans.length - SpanField.stride
      this.mergedTrace = item.trace!
      this.mergedName = item.taskName
      this.mergedCount = 1
      this.mergedEnd = end
    }
  }

  /** Rule 8: the open shared span, if any, takes no more tasks; its end and count go into its message. */
  private closeShared(): void {
    const at = this.mergedAt
    if (at < 0) return
    this.mergedAt = -1
    if (this.mergedCount <= 1) return
    this.spans[at + SpanField.end] = this.mergedEnd
    const attributes = this.spans[at + SpanField.attributes] as Record<string, unknown> | undefined
    if (attributes === undefined) this.spans[at + SpanField.attributes] = { "effect_parallel.tasks": this.mergedCount }
    else attributes["effect_parallel.tasks"] = this.mergedCount
  }

  /** The handler of a fused task (its stages' handlers in turn), built once per fused task. */
  private fusedHandlerOf(name: string, task: Any | undefined) {
    if (task === undefined || !isFused(task)) return undefined
    let handler = this.fusedHandlers.get(name)
    if (handler === undefined) {
      handler = fusedHandler(task, this.entry.handlers)
      if (handler === undefined) return undefined
      this.fusedHandlers.set(name, handler)
    }
    return handler
  }

  /** A task's spans go out before its result (`[Spans, id, count, …]`). */
  private pushSpans(id: number, spans: SpanBuffer): void {
    this.spans.push(id, spans.count)
    for (const field of spans.fields) this.spans.push(field)
  }

  /** Where the next task's one span goes: straight into the message (its count set to 1 here). */
  private spanBuffer(id: number): SpanBuffer {
    this.spans.push(id, 1)
    return { fields: this.spans, count: 0 }
  }

  private answer(item: Item, answer: { readonly outcome: Outcome; readonly value: unknown }): void {
    this.push(item.id, answer.outcome, answer.value, item)
  }

  private finish(item: Item, codec: Codec, exit: Exit.Exit<unknown, unknown>): void {
    // A handler that blocks its thread cannot be interrupted by its timer; judge it by the clock.
    if (item.timeoutMillis > 0 && !item.cancelled && this.now() - item.startedAt > item.timeoutMillis) {
      return this.push(item.id, Outcome.Timeout, undefined, item)
    }
    if (!item.cancelled && Exit.isFailure(exit)) {
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some" && error.value instanceof TimedOut) return this.push(item.id, Outcome.Timeout, undefined, item)
    }
    const [outcome, value, transfer] = outcomeOf(codec, exit, item.cancelled)
    this.push(item.id, outcome, value, item, transfer)
  }

  /** Queues an answer; a timed task's goes with when its handler ran; a moving one with its buffers (rule 5). */
  private push(id: number, outcome: Outcome, value: unknown, item: Item | undefined, transfer?: ReadonlyArray<ArrayBuffer>): void {
    // Rule 7: a clocked task's end is also its answer's time; others read the clock here.
    const ended = item !== undefined && item === this.clockedItem
      ? (this.clockedEnd !== 0 ? this.clockedEnd : this.clock())
      : this.answerClock
    this.answerClock = 0
    const now = ended !== 0 ? ended - this.clockOffset : this.now()
    if (this.unsent() === 0) this.oldestResultAt = now
    this.lastAnswerAt = now
    this.unsentCount++
    if (item !== undefined && item.timeoutMillis > 0) this.unsentTimed = true
    if (item?.timed === true) {
      const position = this.timedCount++
      if (transfer !== undefined || this.timedTransfers !== undefined) {
        this.timedTransfers = withTransfer(this.timedTransfers, position, transfer)
      }
      pushResult(this.timedResults, id, outcome, value)
      if (2 * position + 2 > this.times.length) {
        const grown = new Float64Array(2 * this.times.length)
        grown.set(this.times)
        this.times = grown
      }
      if (item === this.clockedItem) {
        this.times[2 * position] = this.clockedStart
        this.times[2 * position + 1] = ended
        this.clockedItem = undefined
        this.boundary = ended
      } else {
        // Answered without running (interrupted in the queue, or its handler unknown): no time.
        const now = this.clock()
        this.times[2 * position] = now
        this.times[2 * position + 1] = now
      }
    } else {
      if (transfer !== undefined || this.resultTransfers !== undefined) {
        this.resultTransfers = withTransfer(this.resultTransfers, (this.results.length - 1) / Result.stride, transfer)
      }
      pushResult(this.results, id, outcome, value)
    }
    if (this.unsent() >= flushEvery || now - this.oldestResultAt >= flushAfterMillis) this.flush()
  }

  /** Answers queued and not yet sent. */
  private unsent(): number {
    return this.unsentCount
  }

  /** Sends every answer not yet sent. Also at `process.exit` (`threadMain`), so results survive the worker. */
  flush(): void {
    // Rule 7: sending is not the next task's time; rule 8: a sent span cannot grow.
    this.boundary = -1
    this.closeShared()
    this.flushedAt = this.lastAnswerAt
    if (this.recordBusy !== undefined) this.publishBusy()
    this.unsentCount = 0
    this.unsentTimed = false
    // Before the results: the pool routes spans by the task, which its result settles.
    if (this.spans.length > 1) {
      const spans = this.spans
      this.spans = [Op.Spans]
      this.post(spans as unknown as FromWorker)
    }
    if (this.results.length > 1) {
      const results = this.results
      const transfers = this.resultTransfers
      this.results = [Op.Results]
      this.resultTransfers = undefined
      this.post(results as unknown as FromWorker, transfers)
    }
    if (this.timedCount > 0) {
      const results = this.timedResults
      const transfers = this.timedTransfers
      results[ResultTimed.times] = this.times.slice(0, 2 * this.timedCount)
      this.timedResults = [Op.ResultsTimed, undefined]
      this.timedTransfers = undefined
      this.timedCount = 0
      this.post(results as unknown as FromWorker, transfers)
    }
    if (this.heapThreshold !== undefined) this.checkHeap(this.heapThreshold)
  }

  /**
   * Rule 9: before answers go, the time busy up to the latest answer, in µs (modulo 2^32: the
   * pool reads differences); a worker that has nothing left to run stops counting until its next task.
   */
  private publishBusy(): void {
    const since = this.busySince
    if (since !== since) return
    // Up to its latest answer (whose time was read for the answer): what the answers sent cover.
    const busy = this.busyBefore + Math.max(0, this.lastAnswerAt - since)
    this.recordBusy!(Math.round(busy * 1000) % 4294967296)
    if (this.running === undefined && this.head === this.queue.length) {
      this.busyBefore = busy
      this.busySince = Number.NaN
    }
  }

  /** Rule 5: once above the threshold, the pool hears of it, and retires the worker. */
  private checkHeap(threshold: NonNullable<RuntimeHost["heapThreshold"]>): void {
    const used = threshold.used()
    if (used <= threshold.bytes) return
    this.heapThreshold = undefined
    this.post([Op.Heap, used])
  }
}

/** Rule 5: records the buffers the answer at `position` moves. */
const withTransfer = (
  transfers: AnswerTransfers,
  position: number,
  transfer: ReadonlyArray<ArrayBuffer> | undefined
): Array<ReadonlyArray<ArrayBuffer> | undefined> => {
  const list = transfers ?? []
  list[position] = transfer
  return list
}

/**
 * A value that cannot be sent fails only its own task: when a message of answers cannot be cloned
 * (a result Schema that lets a function through, say) or its buffers cannot all be moved (one
 * buffer in two answers), its answers go one by one, each moving its own buffers (rule 5), and
 * those that still cannot are replaced by a defect that says why; so is a spawn's outcome.
 */
const answersSurvive = (post: Post) =>
(
  message: FromWorker,
  transfers?: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined>
): void => {
  try {
    post(message, transfers === undefined ? undefined : transfers.flatMap((list) => list ?? []))
  } catch (error) {
    const op = message[0]
    // A constructor's outcome (its declared init error) that cannot be sent fails that spawn alone.
    if (op === Op.Spawned) return post([Op.Spawned, message[1], Outcome.Defect, notSendable(error)])
    if (op !== Op.Results && op !== Op.ResultsTimed && op !== Op.Replies && op !== Op.RepliesTimed) throw error
    const first = firstAnswer(op)
    const times = op === Op.ResultsTimed || op === Op.RepliesTimed ? message[ResultTimed.times] as Float64Array : undefined
    for (let at = first; at < message.length; at += Result.stride) {
      const k = (at - first) / Result.stride
      const one: Array<unknown> = times === undefined
        ? [op, ...message.slice(at, at + Result.stride)]
        : [op, times.slice(2 * k, 2 * k + 2), ...message.slice(at, at + Result.stride)]
      try {
        post(one as unknown as FromWorker, transfers?.[k])
      } catch (cause) {
        one[first + Result.outcome] = Outcome.Defect
        one[first + Result.value] = notSendable(cause)
        post(one as unknown as FromWorker)
      }
    }
  }
}

const notSendable = (cause: unknown) => ({
  name: "AnswerNotSendable",
  message: `the answer cannot be sent to the pool: ${cause instanceof Error ? cause.message : String(cause)}`,
  stack: ""
})
