/**
 * A pool's metrics as Effect Metrics, over every backend row: tasks by outcome, worker and task,
 * run-time and queue-wait histograms, gauges read from the pool; served at `/metrics` through
 * `PrometheusMetrics`, and exported through OTLP, from the same registry.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as OtlpMetrics from "effect/observability/OtlpMetrics"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { createServer } from "node:http"
import { Actor, Observe, Task, WorkerPool } from "../../src/index.ts"
import { ActorTasks, Counter } from "../fixtures/actors.ts"
import { Metered, MeteredTasks } from "../fixtures/metered-tasks.ts"
import { Add, ContractTasks, Die, Explode, Sleep } from "../fixtures/tasks.ts"
import { transportOf } from "../../src/runtime/client/ActorHandle.ts"
import { Outcome } from "../../src/runtime/protocol/protocol.ts"
import { poolReasonOf, rows } from "../support/backends.ts"

const entry = new URL("../fixtures/worker.ts", import.meta.url)
const meteredEntry = new URL("../fixtures/metered-worker.ts", import.meta.url)
const actorEntry = new URL("../fixtures/actor-worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

const find = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string, attributes: Record<string, string> = {}) =>
  snapshots.filter((s) =>
    s.id === id && Object.entries(attributes).every(([key, value]) => s.attributes?.[key] === value)
  )

const countOf = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string, attributes: Record<string, string> = {}) =>
  find(snapshots, id, attributes).reduce((total, s) => total + (s.state as { count: number }).count, 0)

describe.each(rows)("metrics on $name", (row) => {
  const pool = WorkerPool.layer(ContractTasks, { entry, size: 2 }).pipe(Layer.provide(row.backend))

  it.live("metrics a handler records in its worker reach the caller's registry, with pool and worker", () => {
    const registry = new Map()
    const inRegistry = Effect.provideService(Metric.MetricRegistry, registry)
    return Effect.gen(function*() {
      const observed = yield* Scope.make()
      yield* Observe.metrics(MeteredTasks, { pool: "metered", workerInterval: "20 millis" }).pipe(Scope.provide(observed), inRegistry)
      const defaultCount = () => countOf(Metric.snapshotUnsafe(Context.empty()), "handled_total")
      const before = defaultCount()
      yield* Task.map(Metered, Array.from({ length: 60 }, (_, n) => ({ n })), { chunkSize: 10 })
      if (row.capabilities.isolatesCrashes) {
        // Each worker has its own registry: its values arrive every interval, one series per worker.
        const arrived = Effect.gen(function*() {
          const snapshots = yield* inRegistry(Metric.snapshot)
          const total = countOf(snapshots, "handled_total", { pool: "metered" })
          return total === 60 ? snapshots : yield* Effect.fail(`${total} of 60 counted so far`)
        })
        const snapshots = yield* arrived.pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 }))
        const counters = find(snapshots, "handled_total", { pool: "metered" })
        assert.isTrue(counters.every((s) => s.attributes?.worker === "0" || s.attributes?.worker === "1"))
        assert.strictEqual(counters[0]!.description, "Inputs a handler saw")
        const histograms = find(snapshots, "handled_size", { pool: "metered" })
        assert.strictEqual(histograms.reduce((n, s) => n + (s.state as Metric.HistogramState).count, 0), 60)
        assert.strictEqual(histograms.reduce((n, s) => n + (s.state as Metric.HistogramState).sum, 0), (59 * 60) / 2)
        yield* Scope.close(observed, Exit.void)
        const after = yield* inRegistry(Metric.snapshot)
        assert.deepStrictEqual(find(after, "handled_total"), [], "gone with the observer")
      } else {
        // Workers in the caller's thread record into that thread's default registry, nothing is sent.
        assert.strictEqual(defaultCount() - before, 60)
        assert.deepStrictEqual(find(yield* inRegistry(Metric.snapshot), "handled_total"), [])
        yield* Scope.close(observed, Exit.void)
      }
    }).pipe(
      Effect.provide(WorkerPool.layer(MeteredTasks, { entry: meteredEntry, size: 2 }).pipe(Layer.provide(row.backend))),
      row.within
    )
  })

  it.effect("a workerInterval that is not a positive duration is a typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Observe.metrics(ContractTasks, { workerInterval: "0 millis" })))
      assert.strictEqual(error.reason._tag, "InvalidOptions")
    }).pipe(Effect.provide(pool), row.within))

  it.live("tasks by outcome, histograms, gauges; removed when the scope closes", () =>
    Effect.gen(function*() {
      const registry = new Map()
      const observed = yield* Scope.make()
      yield* Observe.metrics(ContractTasks, { pool: "test" }).pipe(Scope.provide(observed), Effect.provideService(Metric.MetricRegistry, registry))
      yield* Task.map(Add, Array.from({ length: 100 }, (_, i) => ({ a: i, b: 1 })))
      yield* Effect.exit(Task.run(Explode, { message: "boom" }))
      const snapshots = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      assert.strictEqual(countOf(snapshots, "effect_parallel_tasks_total", { pool: "test", task: "Add", outcome: "Success" }), 100)
      assert.strictEqual(countOf(snapshots, "effect_parallel_tasks_total", { task: "Explode", outcome: "Defect" }), 1)
      // One series for the task's successes, whichever workers ran them.
      assert.deepStrictEqual(find(snapshots, "effect_parallel_tasks_total", { task: "Add" }).map((s) => s.attributes?.worker), [undefined])
      const [runTime] = find(snapshots, "effect_parallel_task_run_seconds", { task: "Add" })
      assert.strictEqual((runTime!.state as Metric.HistogramState).count, 100)
      const [wait] = find(snapshots, "effect_parallel_task_queue_wait_seconds", { task: "Add" })
      assert.strictEqual((wait!.state as Metric.HistogramState).count, 100)
      const [depth] = find(snapshots, "effect_parallel_queue_depth", { pool: "test" })
      assert.strictEqual((depth!.state as Metric.GaugeState<number>).value, 0)
      const [busy] = find(snapshots, "effect_parallel_busy_workers")
      assert.strictEqual((busy!.state as Metric.GaugeState<number>).value, 0)
      assert.strictEqual(countOf(snapshots, "effect_parallel_worker_starts_total"), 2)
      assert.strictEqual(countOf(snapshots, "effect_parallel_worker_restarts_total"), 0)
      if (row.name === "threads") {
        const loops = find(snapshots, "effect_parallel_worker_event_loop_utilization")
        assert.deepStrictEqual(loops.map((s) => s.attributes?.worker).sort(), ["0", "1"])
        for (const loop of loops) {
          const value = (loop.state as Metric.GaugeState<number>).value
          assert.isTrue(value >= 0 && value <= 1, `utilization ${value}`)
        }
      }
      const text = yield* PrometheusMetrics.format().pipe(Effect.provideService(Metric.MetricRegistry, registry))
      assert.match(text, /effect_parallel_tasks_total\{[^}]*outcome="Success"[^}]*\} \d+/)
      assert.match(text, /effect_parallel_task_run_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} 100/)
      yield* Scope.close(observed, Exit.void)
      assert.strictEqual(registry.size, 0, "every series removed")
    }).pipe(Effect.provide(pool), row.within))

  it.live("actor method calls by actor, method and outcome, with their run time", () =>
    Effect.gen(function*() {
      const registry = new Map()
      yield* Observe.metrics(ActorTasks, { pool: "actors" }).pipe(Effect.provideService(Metric.MetricRegistry, registry))
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      for (let i = 0; i < 3; i++) yield* counter.call("add", { n: 1 })
      yield* Effect.exit(counter.call("refuse", {}))
      const snapshots = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      const calls = { id: "effect_parallel_actor_calls_total", attributes: { pool: "actors", actor: "Counter" } } as const
      assert.strictEqual(countOf(snapshots, calls.id, { ...calls.attributes, method: "add", outcome: "Success" }), 3)
      assert.strictEqual(countOf(snapshots, calls.id, { ...calls.attributes, method: "refuse", outcome: "Failure" }), 1)
      const [runTime] = find(snapshots, "effect_parallel_actor_call_run_seconds", { pool: "actors", actor: "Counter", method: "add" })
      assert.strictEqual((runTime!.state as Metric.HistogramState).count, 3)
      const text = yield* PrometheusMetrics.format().pipe(Effect.provideService(Metric.MetricRegistry, registry))
      assert.match(text, /effect_parallel_actor_calls_total\{[^}]*method="add"[^}]*\} 3/)
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: actorEntry, size: 1 }).pipe(Layer.provide(row.backend))),
      row.within
    ))

  it.live("calls naming a method or actor the pool does not have share one bounded series", () =>
    Effect.gen(function*() {
      const registry = new Map()
      yield* Observe.metrics(ActorTasks, { pool: "actors" }).pipe(Effect.provideService(Metric.MetricRegistry, registry))
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      yield* counter.call("add", { n: 1 })
      // What a worker's ask can name (a caller's handle is typed): the host's call path, untyped.
      const transport = transportOf(counter)
      const forged = (actorId: number, name: string) =>
        Effect.callback<Outcome>((resume) => {
          transport.call(actorId, Task.make(name, {}), undefined, (outcome) => resume(Effect.succeed(outcome)))
        })
      for (let i = 0; i < 20; i++) {
        assert.strictEqual(yield* forged(counter.id, `Counter.made-up-${i}`), Outcome.Defect)
        assert.strictEqual(yield* forged(10_000 + i, `Ghost${i}.boo`), Outcome.Unavailable)
      }
      const snapshots = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      const calls = find(snapshots, "effect_parallel_actor_calls_total", { pool: "actors" })
      assert.deepStrictEqual(
        calls.map((s) => `${s.attributes?.actor}.${s.attributes?.method} ${s.attributes?.outcome}`).sort(),
        ["<unknown>.<unknown> Unavailable", "Counter.<unknown> Defect", "Counter.add Success"]
      )
      assert.strictEqual(countOf(snapshots, calls[0]!.id, { actor: "Counter", method: "<unknown>" }), 20)
      assert.strictEqual(find(snapshots, "effect_parallel_actor_call_run_seconds", { pool: "actors" }).length, 3)
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: actorEntry, size: 1 }).pipe(Layer.provide(row.backend))),
      row.within
    ))
})

describe("worker metrics with two observers", () => {
  it.live("each registry gets the workers' metrics, and one closing leaves the other's coming", () => {
    const first = new Map()
    const second = new Map()
    const counted = (registry: Map<any, any>, n: number) =>
      Effect.flatMap(Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry)), (snapshots) => {
        const total = countOf(snapshots, "handled_total", { pool: "metered" })
        return total === n ? Effect.void : Effect.fail(`${total} of ${n} counted so far`)
      }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
    return Effect.gen(function*() {
      yield* Observe.metrics(MeteredTasks, { pool: "metered", workerInterval: "20 millis" }).pipe(Effect.provideService(Metric.MetricRegistry, first))
      const later = yield* Scope.make()
      yield* Observe.metrics(MeteredTasks, { pool: "metered", workerInterval: "20 millis" }).pipe(
        Scope.provide(later),
        Effect.provideService(Metric.MetricRegistry, second)
      )
      yield* Task.map(Metered, Array.from({ length: 10 }, (_, n) => ({ n })))
      yield* counted(first, 10)
      yield* counted(second, 10)
      yield* Scope.close(later, Exit.void)
      yield* Task.map(Metered, Array.from({ length: 10 }, (_, n) => ({ n })))
      yield* counted(first, 20)
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(MeteredTasks, { entry: meteredEntry, size: 2 })))
  }, 30_000)
})

describe("metrics over HTTP", () => {
  const pool = WorkerPool.layer(ContractTasks, { entry, size: 1 })

  it.live("busy_workers falls back to 0 after a map is interrupted with tasks on the workers", () =>
    Effect.gen(function*() {
      const registry = new Map()
      yield* Effect.gen(function*() {
        yield* Observe.metrics(ContractTasks, { pool: "cancelled" })
        const busy = Effect.map(Metric.snapshot, (snapshots) => {
          const [gauge] = find(snapshots, "effect_parallel_busy_workers", { pool: "cancelled" })
          return (gauge!.state as Metric.GaugeState<number>).value
        })
        const inFlight = Effect.map(Metric.snapshot, (snapshots) => {
          const [gauge] = find(snapshots, "effect_parallel_tasks_in_flight", { pool: "cancelled" })
          return (gauge!.state as Metric.GaugeState<number>).value
        })
        // Interrupted while its tasks run on the worker: they are cancelled there, never settled.
        yield* Effect.exit(
          Task.map(Sleep, Array.from({ length: 4 }, (_, i) => ({ millis: 5_000, marker: `m${i}` }))).pipe(Effect.timeout("300 millis"))
        )
        yield* Effect.sleep("200 millis")
        assert.strictEqual(yield* inFlight, 0, "the pool holds nothing")
        assert.strictEqual(yield* busy, 0, "no worker holds a task")
        yield* Task.map(Add, [{ a: 1, b: 2 }])
        assert.strictEqual(yield* busy, 0, "no worker holds a task")
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
    }).pipe(Effect.provide(pool)))

  it.live("a recycled worker's replacement is a start, not a restart", () =>
    Effect.gen(function*() {
      const registry = new Map()
      yield* Effect.gen(function*() {
        yield* Observe.metrics(ContractTasks, { pool: "recycling" })
        yield* Task.map(Add, Array.from({ length: 12 }, (_, i) => ({ a: i, b: 1 })), { chunkSize: 1 })
        const snapshots = yield* Metric.snapshot
        assert.isAbove(countOf(snapshots, "effect_parallel_worker_starts_total", { pool: "recycling" }), 1, "workers were recycled")
        assert.strictEqual(countOf(snapshots, "effect_parallel_worker_restarts_total", { pool: "recycling" }), 0, "none died")
        yield* Effect.exit(Task.run(Die, { how: "exit" }))
        // Event-loop utilization is read from live threads: a recycled one's series went with it.
        // One worker lives (the last one retired may still be shutting down: polled until it is gone).
        const onlyLive = Effect.flatMap(Metric.snapshot, (snapshots) => {
          const loops = find(snapshots, "effect_parallel_worker_event_loop_utilization", { pool: "recycling" }).map((s) => s.attributes?.worker)
          return loops.length === 1 ? Effect.void : Effect.fail(`utilization of workers ${loops}`)
        })
        yield* onlyLive.pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
        // Its replacement starts once the pool has settled its task.
        const restarted = Effect.flatMap(Metric.snapshot, (snapshots) => {
          const n = countOf(snapshots, "effect_parallel_worker_restarts_total", { pool: "recycling" })
          return n === 1 ? Effect.void : Effect.fail(`${n} restarts`)
        })
        yield* restarted.pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1, maxTasksPerWorker: 3 }))), 20_000)

  it.live("a second pool under the same pool attribute in one registry is refused, not silently swapped in", () =>
    Effect.gen(function*() {
      const registry = new Map()
      const other = yield* Layer.build(WorkerPool.layer(ContractTasks, { entry, size: 1 }))
      yield* Effect.gen(function*() {
        yield* Observe.metrics(ContractTasks, { pool: "shared" })
        yield* Task.map(Add, [{ a: 1, b: 2 }])
        const clash = yield* Effect.flip(Observe.metrics(ContractTasks, { pool: "shared" }).pipe(Effect.provideContext(other)))
        const reason = poolReasonOf(clash)
        assert.strictEqual(reason._tag, "InvalidOptions")
        assert.deepStrictEqual((reason as { path: ReadonlyArray<string> }).path, ["pool"])
        assert.match(reason.message, /"shared"/)
        // The first pool's series are still its own; another name, or another registry, is fine.
        const snapshots = yield* Metric.snapshot
        assert.strictEqual(countOf(snapshots, "effect_parallel_tasks_total", { pool: "shared" }), 1)
        yield* Observe.metrics(ContractTasks, { pool: "other" }).pipe(Effect.provideContext(other))
        yield* Observe.metrics(ContractTasks, { pool: "shared" }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
      // Once the first's scope closed, the name is free again.
      yield* Observe.metrics(ContractTasks, { pool: "shared" }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("serveMetrics: /metrics in Prometheus text, closed with its scope", () =>
    Effect.gen(function*() {
      const registry = new Map()
      const url = yield* Effect.gen(function*() {
        yield* Observe.metrics(ContractTasks, { pool: "served" })
        const url = yield* Observe.serveMetrics({ port: 0 })
        yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }])
        const response = yield* Effect.promise(() => fetch(`${url}/metrics`))
        assert.strictEqual(response.status, 200)
        assert.match(response.headers.get("content-type")!, /^text\/plain/)
        const text = yield* Effect.promise(() => response.text())
        assert.match(text, /effect_parallel_tasks_total\{[^}]*pool="served"[^}]*outcome="Success"[^}]*\} 2/)
        return url
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, registry))
      const after = yield* Effect.promise(() => fetch(`${url}/metrics`).then(() => "answered", () => "refused"))
      assert.strictEqual(after, "refused")
    }).pipe(Effect.provide(pool)))

  it.live("the same series go out through OTLP", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const server = createServer((request, response) => {
        let body = ""
        request.on("data", (chunk) => body += chunk)
        request.on("end", () => {
          bodies.push(body)
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (server.address() as { port: number }).port
      const registry = new Map()
      yield* Effect.gen(function*() {
        yield* Observe.metrics(ContractTasks, { pool: "otlp" })
        yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }])
      }).pipe(
        // The exporter flushes when its Layer closes, after the map.
        Effect.provide(
          OtlpMetrics.layer({ url: `http://127.0.0.1:${port}/v1/metrics`, exportInterval: "1 hour", resource: { serviceName: "observe-test" } }).pipe(
            Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson])
          )
        ),
        Effect.scoped,
        Effect.provideService(Metric.MetricRegistry, registry)
      )
      const sent = bodies.join("\n")
      assert.include(sent, "effect_parallel_tasks_total")
      assert.include(sent, "effect_parallel_task_run_seconds")
      assert.include(sent, "\"otlp\"")
    }).pipe(Effect.scoped, Effect.provide(pool)))
})
