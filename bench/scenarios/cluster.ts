/**
 * Cluster: CPU-bound actor calls over 1..cores runner processes on PostgreSQL, against one local pool.
 *
 * Each runner is an `effect-parallel runner` process hosting the `Burner` actor on one worker
 * thread (`cluster/host.ts`); this process is the client. `calls` calls of `burn` (5 ms of busy
 * waiting on the clock, on the actor's worker thread) go to 256 entity ids with 16 in flight;
 * `throughput` is calls per second. The same calls then go to 256 local actors on one `WorkerPool`
 * of as many workers as there are runners (`effect-parallel/local`, the baseline: `ratio` is the
 * cluster's throughput over the local pool's at the same count). `call p50/p99 µs` is a trivial
 * call (`ping`) with nothing else in flight, the price of a call itself: a cluster call crosses a
 * socket, its runner's event loop and a worker thread; a local one only a worker thread.
 *
 * What is timed is the steady state: before it, the actors answer from every runner and their
 * owners stay put over two assignment refreshes (no shard moves, no actor is rebuilt while timed),
 * and every actor has run `burn` once. The CPU each timed call cost (the client, the runners'
 * threads other than their workers, and the workers, from `/proc`) is printed and recorded: on
 * 2 cores the client and the runners' event loops share the cores with the workers. A busy wait on
 * the clock does less work when its thread is preempted (the workers' CPU per call says how much).
 * Each row also prints the CPU the rest of the machine used while it was timed (`outside CPU`, % of
 * all cores, from `/proc/stat`; PostgreSQL's ~0.01 ms per call counts there): on a shared machine a
 * row with more than a few % measured other people's work too.
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
import { readdirSync, readFileSync } from "node:fs"
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
/** `Cluster.failover(5)`'s `refreshAssignmentsInterval`. */
const refreshMillis = 1000
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
  /** CPU time per timed call: the client process, the runners' other threads, their workers. */
  readonly cpuPerCallMs?: { readonly client: number; readonly runnerThreads: number; readonly runnerWorkers: number }
  /**
   * The CPU that processes outside the measurement (other users of the machine) took while the
   * calls were timed, in % of all cores: a run where it is not near 0 measured a shared machine.
   */
  readonly outsidePct: number
}

/**
 * CPU ms a process has used so far, split into its worker threads (`WorkerThread`, where the
 * actors run) and the rest (event loop, GC and compiler helpers), from `/proc` (Linux).
 */
const threadCpu = (pid: number): { readonly workers: number; readonly other: number } => {
  let workers = 0
  let other = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      // Fields after the parenthesised name: utime and stime are the 12th and 13th, in clock ticks.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const ms = (Number(fields[11]) + Number(fields[12])) * (1000 / clockTicks)
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === "WorkerThread") workers += ms
      else other += ms
    }
  } catch {
    // A thread that ended between the listing and the read: its time is lost from the sum.
  }
  return { workers, other }
}

/** `sysconf(_SC_CLK_TCK)`: 100 on Linux everywhere we run. */
const clockTicks = 100

/** CPU ms every process of the machine has used so far (all cores, not idle), from `/proc/stat`. */
const machineCpu = (): number => {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
      .slice(1).map(Number)
    return (user! + nice! + system! + irq! + softirq! + steal!) * (1000 / clockTicks)
  } catch {
    return Number.NaN
  }
}

/** The share of all cores (%) used over `seconds` by processes other than the measured ones (`oursMs`). */
const outsidePct = (machineMs: number, oursMs: number, seconds: number): number =>
  Math.round(Math.max(0, (machineMs - oursMs) / (seconds * 1000 * cores())) * 1000) / 10

type Size = ReturnType<typeof sizes>

/**
 * Calls `burn` `count` times over the entities with `inFlight` at once, as one Effect (one fiber
 * per call, not a promise and a runtime entry each: the client shares the cores with the runners,
 * so its own cost per call is kept to what a call needs); seconds taken.
 */
const burnAll = (
  run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>,
  count: number,
  call: (i: number) => Effect.Effect<unknown, unknown>
): Promise<number> =>
  run(Effect.gen(function*() {
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), call, { concurrency: inFlight, discard: true })
    return (performance.now() - start) / 1000
  }))

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
    const owners = () => Promise.all(handles.map((h) => run(h.call("ping"))))
    // Runners that joined get their shards at the next assignment refresh, and shards move a few
    // at a time: wait until the actors answer from every runner and the owners stay the same over
    // two refreshes, so no shard moves (and no actor is rebuilt) while the calls are timed.
    const deadline = Date.now() + 60_000
    let placed = await owners()
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the actors did not settle over ${runners} runners in 60 s`)
      await new Promise((resolve) => setTimeout(resolve, 2 * refreshMillis))
      const again = await owners()
      const settled = new Set(again).size === runners && again.every((owner, i) => owner === placed[i])
      placed = again
      if (settled) break
    }
    const spread: Record<string, number> = {}
    for (const owner of placed) spread[String(owner)] = (spread[String(owner)] ?? 0) + 1
    // Steady state: every actor has run `burn` (its code is warm on its runner) before the timing.
    const burn = (i: number) => handles[i % entities]!.call("burn", { millis: burnMillis })
    await burnAll(run, Math.max(size.warmupCalls, entities), burn)
    const cpuBefore = { client: process.cpuUsage(), runners: started.map((r) => threadCpu(r.pid)), machine: machineCpu() }
    const seconds = await burnAll(run, size.calls, burn)
    const clientCpu = process.cpuUsage(cpuBefore.client)
    const runnersAfter = started.map((r) => threadCpu(r.pid))
    const machineMs = machineCpu() - cpuBefore.machine
    const ms = {
      client: (clientCpu.user + clientCpu.system) / 1000,
      runnerThreads: runnersAfter.reduce((sum, after, i) => sum + after.other - cpuBefore.runners[i]!.other, 0),
      runnerWorkers: runnersAfter.reduce((sum, after, i) => sum + after.workers - cpuBefore.runners[i]!.workers, 0)
    }
    const perCall = (total: number) => round(total / size.calls, 3)
    const cpuPerCallMs = { client: perCall(ms.client), runnerThreads: perCall(ms.runnerThreads), runnerWorkers: perCall(ms.runnerWorkers) }
    const latency = await measureRoundTrips(
      { warmup: size.warmupRoundTrips, count: size.roundTrips },
      () => run(handles[0]!.call("ping")).then(() => undefined)
    )
    return {
      seconds,
      throughput: size.calls / seconds,
      latency,
      spread,
      cpuPerCallMs,
      outsidePct: outsidePct(machineMs, ms.client + ms.runnerThreads + ms.runnerWorkers, seconds)
    }
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
    const burn = (i: number) => actors[i % entities]!.call("burn", { millis: burnMillis })
    yield* Effect.promise(() => burnAll(run, Math.max(size.warmupCalls, entities), burn))
    const before = { ours: process.cpuUsage(), machine: machineCpu() }
    const seconds = yield* Effect.promise(() => burnAll(run, size.calls, burn))
    const ours = process.cpuUsage(before.ours)
    const outside = outsidePct(machineCpu() - before.machine, (ours.user + ours.system) / 1000, seconds)
    const latency = yield* Effect.promise(() =>
      measureRoundTrips(
        { warmup: size.warmupRoundTrips, count: size.roundTrips },
        () => run(actors[0]!.call("ping")).then(() => undefined)
      )
    )
    return { seconds, throughput: size.calls / seconds, latency, outsidePct: outside }
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
    { header: "calls/s", align: "right", meaning: `burn calls (${burnMillis} ms busy each) per second, ${inFlight} in flight over ${entities} actors` },
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
        const cpu = m.cpuPerCallMs === undefined
          ? ""
          : `, CPU ms/call: client ${m.cpuPerCallMs.client}, runner threads ${m.cpuPerCallMs.runnerThreads}, workers ${m.cpuPerCallMs.runnerWorkers}`
        process.stdout.write(
          `${fmt(m.throughput)} calls/s, p50 ${fmt(m.latency.p50us, 1)} µs${split}${cpu}, outside CPU ${m.outsidePct}%\n`
        )
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
    cpuPerCallMs: Object.fromEntries(
      rows.filter((r) => r.m?.cpuPerCallMs !== undefined).map((r) => [`${r.variant} x${r.workers}`, r.m!.cpuPerCallMs])
    ),
    outsideCpuPct: Object.fromEntries(rows.filter((r) => r.m !== undefined).map((r) => [`${r.variant} x${r.workers}`, r.m!.outsidePct])),
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
