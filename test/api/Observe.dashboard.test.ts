/**
 * The dashboard's server: the page and its JSON state (workers, running maps, failures with their
 * input), live while a map runs, and gone when its scope closes; on a simulated pool, its state
 * keeps the simulation's clock.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ServeError } from "effect/http/HttpServerError"
import * as Metric from "effect/Metric"
import { Observe, Simulation, Task, WorkerPool } from "../../src/index.ts"
import { clientOf } from "../../src/api/internal/pool.ts"
import { follow } from "../../src/runtime/observe/Dashboard.ts"
import { Add, ContractTasks, Sleep, Withdraw } from "../fixtures/tasks.ts"
import { closedByServer, openLingering } from "../support/lingering.ts"

const entry = new URL("../fixtures/worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

const state = (url: string) =>
  Effect.promise(() => fetch(`${url}/state`).then((response) => response.json() as Promise<Observe.DashboardSnapshot>))

describe("dashboard", () => {
  it.live("serves the page and its live state; closed with its scope", () =>
    Effect.gen(function*() {
      const url = yield* Effect.gen(function*() {
        const url = yield* Observe.dashboard(ContractTasks, { port: 0, title: "test pool" })
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
        const html = yield* Effect.promise(() => fetch(url).then((response) => response.text()))
        assert.include(html, "<title>test pool — effect-parallel</title>")
        const before = yield* state(url)
        assert.deepStrictEqual(before.workers.map((w) => [w.workerId, w.state]), [[0, "idle"], [1, "idle"]])
        const inputs = Array.from({ length: 12 }, (_, i) => ({ millis: 40, marker: `m${i}` }))
        const running = yield* Effect.forkChild(Task.map(Sleep, inputs, { chunkSize: 1 }))
        let during = yield* state(url)
        for (let i = 0; i < 100 && !during.workers.some((w) => w.state === "busy"); i++) {
          yield* Effect.sleep("10 millis")
          during = yield* state(url)
        }
        const busy = during.workers.find((w) => w.state === "busy")!
        assert.strictEqual(busy.task, "Sleep")
        assert.strictEqual(during.maps.length, 1)
        assert.strictEqual(during.maps[0]!.count, 12)
        yield* Fiber.join(running)
        yield* Effect.exit(Task.run(Withdraw, { balance: 5, amount: 9 }))
        const after = yield* state(url)
        assert.strictEqual(after.maps[0]!.succeeded, 12)
        assert.isDefined(after.maps[0]!.endedAt)
        assert.strictEqual(after.settled, 13)
        assert.strictEqual(after.throughput.reduce((a, b) => a + b, 0), 13)
        assert.deepStrictEqual(after.workers.map((w) => w.state), ["idle", "idle"])
        assert.strictEqual(after.workers.reduce((n, w) => n + w.done, 0), 13)
        const [failure] = after.failures
        assert.strictEqual(failure!.outcome, "Failure")
        assert.strictEqual(failure!.taskName, "Withdraw")
        assert.strictEqual(failure!.input, "{ balance: 5, amount: 9 }")
        assert.isTrue(failure!.workerId === 0 || failure!.workerId === 1)
        // Insights from the page's start: the sleeps' time is working time.
        assert.isAtLeast(after.insights!.total.working, 12 * 40 - 12)
        return url
      }).pipe(Effect.scoped)
      const refused = yield* Effect.promise(() => fetch(url).then(() => false, () => true))
      assert.isTrue(refused, "the server closed with its scope")
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2 }))))

  it.live("an interrupted map leaves its workers idle on the page", () =>
    Effect.gen(function*() {
      const url = yield* Observe.dashboard(ContractTasks, { port: 0 })
      const inputs = Array.from({ length: 4 }, (_, i) => ({ millis: 5_000, marker: `m${i}` }))
      // Interrupted while its tasks run on the workers: they are cancelled there, never settled.
      yield* Effect.exit(Task.map(Sleep, inputs, { chunkSize: 1 }).pipe(Effect.timeout("300 millis")))
      yield* Effect.sleep("200 millis")
      const after = yield* state(url)
      assert.strictEqual(after.stats.inFlight, 0)
      assert.deepStrictEqual(after.workers.map((w) => [w.state, w.held]), [["idle", 0], ["idle", 0]])
      yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }])
      const later = yield* state(url)
      assert.deepStrictEqual(later.workers.map((w) => [w.state, w.held]), [["idle", 0], ["idle", 0]])
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2 }))))

  it.live("a bad port or one in use fails with ServeError, the page's and /metrics' alike", () =>
    Effect.gen(function*() {
      const url = yield* Observe.dashboard(ContractTasks, { port: 0 })
      const inUse = Number(new URL(url).port)
      for (const port of [inUse, NaN, -1, 1.5, 65536, Infinity]) {
        const page = yield* Effect.flip(Effect.scoped(Observe.dashboard(ContractTasks, { port })))
        assert.instanceOf(page, ServeError, `dashboard on port ${port}`)
        const metrics = yield* Effect.flip(Effect.scoped(Observe.serveMetrics({ port })))
        assert.instanceOf(metrics, ServeError, `serveMetrics on port ${port}`)
      }
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1 }))), 20_000)

  it.live("connections still open when its scope closes are closed with it", () =>
    Effect.gen(function*() {
      const sockets = yield* Effect.gen(function*() {
        const url = yield* Observe.dashboard(ContractTasks, { port: 0 })
        const sockets = yield* openLingering(Number(new URL(url).port), "/state")
        // Both reached the server before its scope closes.
        yield* Effect.promise(() => fetch(`${url}/state`).then((response) => response.json()))
        return sockets
      }).pipe(Effect.scoped)
      assert.isTrue(yield* closedByServer(sockets), "the server closed both connections")
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1 }))), 30_000)

  it.live("with metrics: true, the same server answers /metrics in Prometheus text", () =>
    Effect.gen(function*() {
      yield* Observe.metrics(ContractTasks, { pool: "paged" })
      const url = yield* Observe.dashboard(ContractTasks, { port: 0, metrics: true })
      yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }])
      const text = yield* Effect.promise(() => fetch(`${url}/metrics`).then((response) => response.text()))
      assert.match(text, /effect_parallel_tasks_total\{[^}]*pool="paged"[^}]*\} /)
      const plain = yield* Observe.dashboard(ContractTasks, { port: 0 })
      assert.strictEqual(yield* Effect.promise(() => fetch(`${plain}/metrics`).then((response) => response.status)), 404)
    }).pipe(
      Effect.scoped,
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2 }))
    ))
})

describe("dashboard on a simulated pool", () => {
  it.effect("the page's times are the simulation's: its insights count the simulated sleeps as work", () =>
    Effect.gen(function*() {
      const report = yield* Simulation.run(
        Effect.gen(function*() {
          const client = yield* clientOf(ContractTasks)
          // What Observe.dashboard serves (without its server: the simulated world runs no real I/O).
          const followed = follow(client, undefined)
          const inputs = Array.from({ length: 4 }, (_, i) => ({ millis: 1_000, marker: `m${i}` }))
          yield* Task.map(Sleep, inputs, { chunkSize: 1 })
          const snapshot = followed.state.snapshot()
          followed.close()
          return snapshot
        }).pipe(Effect.provide(Simulation.layer(ContractTasks, { entry, size: 2 }))),
        { seed: 7 }
      )
      const snapshot = yield* report.exit
      const insights = snapshot.insights!
      assert.strictEqual(insights.total.tasks, 4)
      assert.isAtLeast(insights.total.working, 4 * 1_000)
      assert.isAtMost(insights.total.working, insights.total.wall)
      assert.isAbove(insights.efficiency, 0.5, "two workers slept two simulated seconds each")
      assert.strictEqual(snapshot.throughput.reduce((a, b) => a + b, 0), 4)
    }))
})
