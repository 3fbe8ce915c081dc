/**
 * `effect-parallel/map` — this framework's `Task.map` over all inputs (automatic chunking);
 * `effect-parallel/run` — one `Task.run` per input, all concurrent, no chunking asked for (the
 * pool coalesces concurrent runs into shared messages by itself);
 * `effect-parallel/map+events`, `effect-parallel/run+events` — the same with one observer counting
 * every event of the pool (`WorkerPool.observe`: what an observer costs; unobserved, a pool makes
 * none); `…+stream` — counted through the `WorkerPool.events` stream instead, a batch per pull;
 * `effect-parallel/map@processes`, `effect-parallel/run@processes` — `map` and `run` with the
 * workers in child processes (`ProcessBackend`) instead of threads.
 * `…+heapcheck` — with `recycleAboveHeapMb` set far above what the workers use: each worker reads
 * its heap whenever it sends answers, and never reaches the threshold (what the check costs).
 * `effect-parallel/map+insights` — the pool built with `insights` (collected, not printed);
 * `+metrics` — `Observe.metrics` registered (a registry of its own); `+tracing` — each `map` runs
 * in a span of an installed tracer (`exportingTracer`: Effect's own spans, dropped where an
 * exporter would batch them), so every task carries the trace context and its worker span comes
 * back; `+all` — the three at once.
 *
 * `setup` resolves once the pool layer is built, i.e. every worker has loaded its entry, so the
 * reported first-result time is the time from a ready pool to the first answer. Calls run with
 * `Effect.runPromiseWith(context)`, the way an application runs many effects against a layer it
 * built once (providing the context anew per call would add ≈ 2 µs to every round trip).
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Observe, ProcessBackend, Task, ThreadBackend, WorkerPool } from "../../../src/index.ts"
import { Add, OverheadTasks } from "./effect-parallel.tasks.ts"
import type { AddInput, OverheadHandle, OverheadVariant } from "./variant.ts"

const entry = new URL("./effect-parallel.worker.ts", import.meta.url)

type Backend = "threads" | "processes"
type Observed = "no" | "listener" | "stream" | "insights" | "metrics" | "tracing" | "all"

const start = async (workers: number, observed: Observed, backend: Backend, options: Partial<WorkerPool.Options>) => {
  const scope = Scope.makeUnsafe()
  const insights = observed === "insights" || observed === "all"
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      WorkerPool.layer(OverheadTasks, {
        entry,
        size: workers,
        insights: insights ? { print: false } : undefined,
        ...options
      }).pipe(Layer.provide(backend === "processes" ? ProcessBackend.layer : ThreadBackend.layer)),
      scope
    )
  )
  const runPromise = Effect.runPromiseWith(context as Context.Context<Task.Runner<"Add">>)
  let counted = 0
  if (observed === "listener") {
    await runPromise(WorkerPool.observe(OverheadTasks, () => void counted++).pipe(Scope.provide(scope)))
  } else if (observed === "stream") {
    await runPromise(Effect.gen(function*() {
      const events = yield* WorkerPool.events(OverheadTasks)
      // Counted as they arrive, a batch at a time: what the stream hands over in one pull.
      yield* Effect.forkIn(Stream.runForEachArray(events, (batch) => Effect.sync(() => void (counted += batch.length))), scope)
    }).pipe(Scope.provide(scope)))
  }
  if (observed === "metrics" || observed === "all") {
    await runPromise(
      Observe.metrics(OverheadTasks).pipe(Scope.provide(scope), Effect.provideService(Metric.MetricRegistry, new Map()))
    )
  }
  void counted
  return { scope, runPromise, traced: observed === "tracing" || observed === "all" }
}

const variant = (
  name: string,
  config: string,
  batch: "map" | "run",
  observed: Observed = "no",
  backend: Backend = "threads",
  options: Partial<WorkerPool.Options> = {}
): OverheadVariant => ({
  name,
  config,
  setup: async (workers): Promise<OverheadHandle> => {
    const { scope, runPromise, traced } = await start(workers, observed, backend, options)
    const span = traced
      ? <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.withSpan("batch"), Effect.provideService(Tracer.Tracer, exportingTracer))
      : <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
    return {
      runBatch: (inputs: ReadonlyArray<AddInput>) =>
        runPromise(span(
          batch === "map"
            ? Task.map(Add, inputs)
            : Effect.forEach(inputs, (input) => Task.run(Add, input), { concurrency: "unbounded" })
        )),
      roundTrip: (input) => runPromise(Task.run(Add, input)),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

/**
 * A tracer as an exporting one is to the pool (OTLP's, a console one): installed, so calls in its
 * spans carry their context to the workers (under Effect's default tracer, which exports nothing,
 * they do not). Its spans are Effect's own; where an exporter would batch ended ones, it drops them.
 */
export const exportingTracer = Tracer.make({ span: (options) => new Tracer.NativeSpan(options) })

export const variants: ReadonlyArray<OverheadVariant> = [
  variant("effect-parallel/map", "Task.map, automatic chunk size, pipelineDepth 2", "map"),
  variant("effect-parallel/run", "Effect.forEach(Task.run, unbounded): concurrent single runs", "run"),
  variant("effect-parallel/map+events", "Task.map, with an observer counting the pool's events", "map", "listener"),
  variant("effect-parallel/run+events", "concurrent single runs, with an observer counting the pool's events", "run", "listener"),
  variant("effect-parallel/map+stream", "Task.map, with the events stream counted a batch per pull", "map", "stream"),
  variant("effect-parallel/run+stream", "concurrent single runs, with the events stream counted a batch per pull", "run", "stream"),
  variant("effect-parallel/map@processes", "Task.map on ProcessBackend (child processes, IPC with advanced serialization)", "map", "no", "processes"),
  variant("effect-parallel/run@processes", "concurrent single runs on ProcessBackend", "run", "no", "processes"),
  variant("effect-parallel/map+heapcheck", "Task.map, workers read their heap as they answer (recycleAboveHeapMb)", "map", "no", "threads", {
    recycleAboveHeapMb: 4_096
  }),
  variant("effect-parallel/run+heapcheck", "concurrent single runs, workers read their heap as they answer", "run", "no", "threads", {
    recycleAboveHeapMb: 4_096
  }),
  variant("effect-parallel/map+insights", "Task.map on a pool built with insights (collected, not printed)", "map", "insights"),
  variant("effect-parallel/map+metrics", "Task.map with Observe.metrics registered", "map", "metrics"),
  variant("effect-parallel/map+tracing", "Task.map in a span: trace context to every task, worker spans back", "map", "tracing"),
  variant("effect-parallel/map+all", "Task.map with insights, metrics and tracing at once", "map", "all")
]
