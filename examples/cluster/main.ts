/**
 * A cluster: three `effect-parallel runner` processes on PostgreSQL, this process as their client.
 * Durable page counters spread over the runners; `Task.map` on `Cluster.pool` spreads a task's
 * chunks over them;
 * one runner is SIGKILLed and its counters answer from the others, their counts restored from
 * their last snapshots; the rest stop gracefully (SIGTERM).
 *
 * Needs PostgreSQL: `EFFECT_PARALLEL_PG_URL`, else the one `scripts/setup-postgres.sh` starts
 * (run it first). Uses a database of its own for the run, dropped at the end.
 * Run with `npm run example -- cluster`.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { Cluster, Task } from "effect-parallel"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Collatz, PageCounter, SiteTasks } from "./actors.ts"

const baseUrl = process.env.EFFECT_PARALLEL_PG_URL ||
  "postgres://effect_parallel:effect_parallel@127.0.0.1:54329/effect_parallel"
/** Seconds after which a killed runner's shards move: every process of a cluster uses the same. */
const failover = 3
const root = fileURLToPath(new URL("../..", import.meta.url))

/** Runs one SQL statement on the base database (creating and dropping this run's database). */
const sql = (statement: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* PgClient.PgClient
      yield* client.unsafe(statement)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(baseUrl) })))
  )

/** `npx effect-parallel runner …`, from this checkout's sources; resolves once it is ready. */
const startRunner = (db: string, port: number) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, [
      "--conditions=effect-parallel-source",
      "src/cli/main.ts",
      "runner",
      "--module",
      "examples/cluster/host.ts",
      "--db",
      db,
      "--port",
      String(port),
      "--failover",
      String(failover)
    ], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout!.on("data", (chunk) => {
      output += chunk
      if (output.includes("runner ready")) resolve(child)
    })
    child.once("exit", (code) => reject(new Error(`runner on ${port} exited (${code}) before it was ready`)))
  })

/** A port nothing listens on now: fixed ports collide with whatever else runs on the machine. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill(signal)
  })

const pages = ["home", "docs", "blog", "pricing", "about", "jobs", "faq", "api", "news", "shop", "help", "team"]

const main = async () => {
  const dbName = `effect_parallel_example_${process.pid}`
  await sql(`CREATE DATABASE ${dbName}`)
  const dbUrl = new URL(baseUrl)
  dbUrl.pathname = `/${dbName}`
  const db = dbUrl.toString()
  const runners: Array<ChildProcess> = []
  const client = ManagedRuntime.make(Cluster.layerPostgres({ url: db, shardingConfig: Cluster.failover(failover) }))
  try {
    const ports = await Promise.all([0, 1, 2].map(freePort))
    runners.push(...await Promise.all(ports.map((port) => startRunner(db, port))))
    const nameOf = (pid: number) => `#${runners.findIndex((r) => r.pid === pid) + 1} (:${ports[runners.findIndex((r) => r.pid === pid)]})`
    console.log(`3 runners ready (pids ${runners.map((r) => r.pid).join(", ")}), sharing ${dbName}`)
    // A runner that joins gets its shards at the next assignment refresh (every 0.75 s with
    // these settings): wait until the counters answer from all three runners.
    const runnersOfPages = () =>
      client.runPromise(Effect.forEach(pages, (page) => Effect.flatMap(Cluster.handle(PageCounter, page), (c) => c.call("runner")), {
        concurrency: "unbounded"
      }))
    for (let tries = 0; new Set(await runnersOfPages()).size < 3 && tries < 120; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
    }

    const visitAll = (times: number) =>
      client.runPromise(Effect.forEach(pages, (page) =>
        Effect.gen(function*() {
          const counter = yield* Cluster.handle(PageCounter, page)
          for (let i = 1; i < times; i++) yield* counter.call("visit")
          const { visits } = yield* counter.call("visit")
          return { page, visits, runner: yield* counter.call("runner") }
        }), { concurrency: "unbounded" }))

    const before = await visitAll(3)
    console.log("\n1. page counters, each an actor on the runner that owns its id:")
    for (const { page, runner, visits } of before) console.log(`   ${page.padEnd(9)} ${visits} visits, on runner ${nameOf(runner)}`)

    // The unchanged Task.map, on a pool whose workers are the runners' pools.
    const collatz = await client.runPromise(
      Task.map(Collatz, Array.from({ length: 3000 }, (_, i) => ({ n: i + 1 })), { chunkSize: 100 }).pipe(
        Effect.provide(Cluster.pool(SiteTasks))
      )
    )
    const longest = collatz.reduce((best, r, i) => (r.steps > best.steps ? { n: i + 1, steps: r.steps } : best), { n: 1, steps: 0 })
    console.log(`\n2. Task.map on Cluster.pool over 3,000 inputs: ${new Set(collatz.map((r) => r.runner)).size} runners did chunks; longest Collatz chain below 3,000: n = ${longest.n}, ${longest.steps} steps`)

    const victim = runners[0]!
    const orphans = before.filter((b) => b.runner === victim.pid).map((b) => b.page)
    console.log(`\n3. SIGKILL runner ${nameOf(victim.pid!)} (it held ${orphans.join(", ") || "no counters"})`)
    const killedAt = Date.now()
    await stop(victim, "SIGKILL")
    // Calls to its counters wait (the cluster retries delivery) or fail until their shards move.
    const after = await (async () => {
      for (;;) {
        try {
          return await visitAll(1)
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
    })()
    console.log(`   every counter answered again ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill:`)
    for (const { page, runner, visits } of after) {
      const moved = orphans.includes(page) ? "  (moved, count restored from its snapshot)" : ""
      console.log(`   ${page.padEnd(9)} ${visits} visits, on runner ${nameOf(runner)}${moved}`)
    }
    const lost = after.filter((a) => a.visits !== 4).map((a) => a.page)
    console.log(`   counts continued from 3 to 4 on every page: ${lost.length === 0}`)
  } finally {
    await client.dispose()
    console.log("\n4. SIGTERM the other runners: calls in flight finish, shards are released")
    await Promise.all(runners.map((r) => stop(r, "SIGTERM")))
    await sql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    console.log(`runner processes left running: ${runners.filter((r) => r.exitCode === null && r.signalCode === null).length}`)
  }
}

main().catch((error) => {
  console.error(String(error))
  console.error("(is PostgreSQL up? scripts/setup-postgres.sh starts one and prints its URL)")
  process.exitCode = 1
})
