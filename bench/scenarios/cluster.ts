/**
 * Cluster: CPU-bound actor calls over 1..cores runner processes on PostgreSQL, against one local pool.
 *
 * Each runner is an `effect-parallel runner` process hosting the `Burner` actor on one worker
 * thread (`cluster/host.ts`); this process is the client. `calls` calls of `burn` (5 ms of busy
 * work on the actor's worker thread) go to 32 entity ids with 16 in flight; `throughput` is calls
 * per second. The same calls then go to 32 local actors on one `WorkerPool` of as many workers as
 * there are runners (`effect-parallel/local`, the baseline: `ratio` is the cluster's throughput
 * over the local pool's at the same count). `call p50/p99 µs` is a trivial call (`ping`) with
 * nothing else in flight, the price of a call itself: a cluster call crosses a socket, its runner's
 * event loop and a worker thread; a local one only a worker thread.
 *
 * Needs PostgreSQL: `EFFECT_PARALLEL_PG_URL`, else the one `scripts/setup-postgres.sh` starts.
 * Every runner count gets a fresh database. Lock settings: `--failover 5` on every process
 * (`Cluster.failover(5)`: 5 s shard locks, refreshed every 1.25 s, assignments every 1 s).
 *
 * `--quick`: fewer calls and round trips. `--workers` gives the runner counts (default 1..cores).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Actor, Cluster, WorkerPool } from "effect-parallel"
import { findPostgres, freshDatabase } from "../../test/support/postgres.ts"
import { freePort, type RunnerProcess, startRunner, stopRunner } from "../../test/support/runners.ts"
import { measureRoundTrips, type RoundTrips } from "../lib/latency.ts"
import { type BenchOptions, cores } from "../lib/options.ts"
import { makeRecord, type Result, withRatios, writeRecord } from "../lib/record.ts"
import { round } from "../lib/stats.ts"
import { upTo } from "../lib/sweep.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import { Burner, BurnerGroup } from "./cluster/actors.ts"

const BASELINE = "effect-parallel/local"
const CLUSTER = "effect-parallel/cluster"
const failoverSeconds = 5
/**
 * Entity ids are hashed to shards, and shards to runners: 32 ids split unevenly over 2 runners
 * (the busier runner's worker bounded the run: 1.38x from 1 to 2 runners on an idle machine, and
 * 1.68x with 256 ids, same day). 256 measures the runners' scaling, not the luck of one split;
 * the split is printed with each row.
 */
const entities = 256
const inFlight = 16
const burnMillis = 5

const sizes = (quick: boolean) =>
  quick
    ? { calls: 200, warmupCalls: 32, roundTrips: 300, warmupRoundTrips: 100 }
    : { calls: 1_000, warmupCalls: 64, roundTrips: 2_000, warmupRoundTrips: 500 }

interface Measurement {
  readonly seconds: number
  readonly throughput: number
  readonly latency: RoundTrips
  readonly spread?: Record<string, number>
}

type Size = ReturnType<typeof sizes>

/** Calls `burn` `count` times over the entities with `inFlight` at once; seconds taken. */
const burnAll = async (count: number, call: (i: number) => Promise<unknown>): Promise<number> => {
  let next = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await call(next++)
  }))
  return (performance.now() - start) / 1000
}

const measureCluster = async (baseUrl: string, runners: number, size: Size): Promise<Measurement> => {
  const db = await freshDatabase(baseUrl)
  const started: Array<RunnerProcess> = []
  let client: ManagedRuntime.ManagedRuntime<Cluster.Sharding, unknown> | undefined
  try {
    for (let i = 0; i < runners; i++) {
      started.push(
        await startRunner({
          module: "bench/scenarios/cluster/host.ts",
          db: db.url,
          port: await freePort(),
          failover: failoverSeconds,
          workers: 1
        })
      )
    }
    client = ManagedRuntime.make(Cluster.layerPostgres({ url: db.url, shardingConfig: Cluster.failover(failoverSeconds) }))
    const handles = await client.runPromise(
      Effect.forEach(Array.from({ length: entities }, (_, i) => `burner-${i}`), (id) => Cluster.handle(Burner, id))
    )
    const run = client.runPromise
    // Activates every entity (spawns its actor on its runner). Runners that joined get their shards
    // at the next assignment refresh: wait until the actors answer from every runner.
    const deadline = Date.now() + 30_000
    while (new Set(await Promise.all(handles.map((h) => run(h.call("ping"))))).size < runners) {
      if (Date.now() > deadline) throw new Error(`the actors did not spread over ${runners} runners in 30 s`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const spread: Record<string, number> = {}
    for (const owner of await Promise.all(handles.map((h) => run(h.call("ping"))))) {
      spread[String(owner)] = (spread[String(owner)] ?? 0) + 1
    }
    await burnAll(size.warmupCalls, (i) => run(handles[i % entities]!.call("burn", { millis: burnMillis })))
    const seconds = await burnAll(size.calls, (i) => run(handles[i % entities]!.call("burn", { millis: burnMillis })))
    const latency = await measureRoundTrips(
      { warmup: size.warmupRoundTrips, count: size.roundTrips },
      () => run(handles[0]!.call("ping")).then(() => undefined)
    )
    return { seconds, throughput: size.calls / seconds, latency, spread }
  } finally {
    await client?.dispose()
    await Promise.all(started.map((runner) => stopRunner(runner)))
    await db.drop()
  }
}

const measureLocal = (workers: number, size: Size): Promise<Measurement> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const actors = yield* Actor.spawnMany(Burner, entities, { name: "local" })
    const context = yield* Effect.context<never>()
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseWith(context)(effect)
    yield* Effect.promise(() =>
      burnAll(size.warmupCalls, (i) => run(actors[i % entities]!.call("burn", { millis: burnMillis })))
    )
    const seconds = yield* Effect.promise(() =>
      burnAll(size.calls, (i) => run(actors[i % entities]!.call("burn", { millis: burnMillis })))
    )
    const latency = yield* Effect.promise(() =>
      measureRoundTrips(
        { warmup: size.warmupRoundTrips, count: size.roundTrips },
        () => run(actors[0]!.call("ping")).then(() => undefined)
      )
    )
    return { seconds, throughput: size.calls / seconds, latency }
  }).pipe(
    Effect.provide(
      WorkerPool.layer(BurnerGroup, { entry: new URL("./cluster/worker.ts", import.meta.url), size: workers }) as Layer.Layer<
        any,
        unknown
      >
    )
  )))

export const run = async (options: BenchOptions): Promise<void> => {
  const size = sizes(options.quick)
  const counts = options.workers ?? upTo(cores())
  const baseUrl = await findPostgres()
  if (baseUrl === undefined) throw new Error("cluster: no PostgreSQL (run scripts/setup-postgres.sh)")
  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: `${CLUSTER}: runner processes on PostgreSQL; ${BASELINE}: one local pool` },
    { header: "workers", align: "right", meaning: "runners (one worker thread each), or the local pool's worker threads" },
    { header: "calls/s", align: "right", meaning: `burn calls (${burnMillis} ms of CPU each) per second, ${inFlight} in flight over ${entities} actors` },
    { header: `vs local`, align: "right", meaning: "throughput over the local pool's at the same count" },
    { header: "vs 1", align: "right", meaning: "throughput over the same variant's with 1 worker (scaling)" },
    { header: "call p50 µs", align: "right", meaning: `trivial call, nothing else in flight (${fmt(size.roundTrips)} after ${fmt(size.warmupRoundTrips)})` },
    { header: "call p99 µs", align: "right", meaning: "the same calls' 99th percentile" }
  ]
  process.stdout.write(
    `cluster: ${fmt(size.calls)} calls x ${burnMillis} ms, counts ${counts.join(",")}, failover ${failoverSeconds} s, ` +
      `${cores()} cores, node ${process.version}\n`
  )
  printLegend(columns)

  const rows: Array<{ variant: string; workers: number; m: Measurement | undefined; error?: string }> = []
  for (const count of counts) {
    for (const [variant, measure] of [
      [BASELINE, () => measureLocal(count, size)],
      [CLUSTER, () => measureCluster(baseUrl, count, size)]
    ] as const) {
      process.stdout.write(`  ${variant} x${count} ... `)
      try {
        const m = await measure()
        rows.push({ variant, workers: count, m })
        const split = m.spread === undefined ? "" : `, actors per runner ${Object.values(m.spread).join("/")}`
        process.stdout.write(`${fmt(m.throughput)} calls/s, p50 ${fmt(m.latency.p50us, 1)} µs${split}\n`)
      } catch (error) {
        rows.push({ variant, workers: count, m: undefined, error: String(error) })
        process.stdout.write(`failed: ${String(error)}\n`)
      }
    }
  }

  const results: ReadonlyArray<Result> = withRatios(
    rows.map((r) => ({
      variant: r.variant,
      workers: r.workers,
      seconds: r.m === undefined ? null : round(r.m.seconds, 4),
      throughput: r.m === undefined ? null : round(r.m.throughput, 4),
      // Several processes (runners, PostgreSQL) do the work: no one peak RSS stands for it.
      peakRssMB: null,
      check: r.m === undefined ? "error" : "ok"
    })),
    BASELINE,
    "throughput"
  )
  const scaling = (variant: string, workers: number) => {
    const one = rows.find((r) => r.variant === variant && r.workers === 1)?.m
    const this_ = rows.find((r) => r.variant === variant && r.workers === workers)?.m
    return one === undefined || this_ === undefined ? null : round(this_.throughput / one.throughput, 3)
  }
  const notes = {
    workload: `${fmt(size.calls)} Burner.burn calls (${burnMillis} ms busy each) over ${entities} actors, ${inFlight} in flight`,
    ...size,
    lockSettings: { failover: failoverSeconds, shardLockExpiration: "5 s", shardLockRefreshInterval: "1.25 s", refreshAssignmentsInterval: "1 s" },
    scaling: Object.fromEntries(
      [BASELINE, CLUSTER].map((v) => [v, Object.fromEntries(counts.map((c) => [String(c), scaling(v, c)]))])
    ),
    latency: Object.fromEntries(rows.map((r) => [`${r.variant} x${r.workers}`, r.m?.latency])),
    actorsPerRunner: Object.fromEntries(
      rows.filter((r) => r.m?.spread !== undefined).map((r) => [`${r.variant} x${r.workers}`, Object.values(r.m!.spread!)])
    ),
    errors: Object.fromEntries(rows.filter((r) => r.error !== undefined).map((r) => [`${r.variant} x${r.workers}`, r.error])),
    peakRssMB: "null: the cluster's work spans runner processes and PostgreSQL",
    check: "ok: every call answered (a failed call fails the row, check error, with the reason in errors)"
  }
  const path = await writeRecord(makeRecord({ scenario: "cluster", baseline: BASELINE, results, notes }))
  process.stdout.write("\n")
  printTable(
    columns,
    results.map((r, i) => {
      const m = rows[i]!.m
      const s = scaling(r.variant, r.workers)
      return [
        r.variant,
        String(r.workers),
        fmt(r.throughput),
        r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
        s === null ? "-" : `${fmt(s, 2)}x`,
        fmt(m?.latency.p50us, 1),
        fmt(m?.latency.p99us, 1)
      ]
    })
  )
  process.stdout.write(`\nwrote ${path}\n`)
}
