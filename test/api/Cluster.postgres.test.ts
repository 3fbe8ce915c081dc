/**
 * Actors across processes on PostgreSQL: three `effect-parallel runner` processes on 127.0.0.1
 * and this process as a client, in a database of their own. Entities spread over the runners; a
 * declared error crosses as its class; a runner stopped with SIGTERM finishes its calls in flight
 * and hands its shards over with no call failing; a SIGKILLed runner's actors answer on another
 * runner within 10 s (`--failover 3`: 3 s shard locks), a durable one with its saved state, a
 * persisted call replayed; a seeded chaos run where runners are killed and replaced during
 * 1,000 calls, each of which must end in a success or a typed error; and a runner SIGKILLed in the
 * middle of `Task.map` on `Cluster.pool`: only the tasks it held are re-sent, and every element
 * ends in a result (in input order) or a typed error.
 *
 * Skipped, saying so, where no PostgreSQL answers (see test/support/postgres.ts).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cluster, Task, TaskError } from "../../src/index.ts"
import { runnerKey } from "../../src/runtime/client/PoolClient.ts"
import { Account, BadOwner, ClusterTasks, Cube, Insufficient, Negative, Wallet } from "../fixtures/cluster-actors.ts"
import { findPostgres, freshDatabase } from "../support/postgres.ts"
import { freePort, type RunnerProcess, startRunner, stopRunner } from "../support/runners.ts"

const baseUrl = await findPostgres()
const failoverSeconds = 3

describe.skipIf(baseUrl === undefined)("Cluster on PostgreSQL, 3 runner processes", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>
  let runners: Array<RunnerProcess> = []
  let client: ManagedRuntime.ManagedRuntime<Cluster.Sharding, unknown>
  const run = <A, E>(effect: Effect.Effect<A, E, Cluster.Sharding>) => client.runPromise(effect)
  const place = (id: string) => run(Effect.flatMap(Cluster.handle(Account, id), (a) => a.call("whereAmI")))
  /** Entity ids and the runner pid each answered from. */
  const placeAll = async (ids: ReadonlyArray<string>) =>
    new Map(await Promise.all(ids.map(async (id) => [id, (await place(id)).pid] as const)))
  const ids = Array.from({ length: 24 }, (_, i) => `acct-${i}`)

  beforeAll(async () => {
    db = await freshDatabase(baseUrl!)
    runners = await Promise.all([0, 1, 2].map(async () =>
      startRunner({
        module: "test/fixtures/cluster-actors.ts",
        db: db.url,
        port: await freePort(),
        failover: failoverSeconds
      })
    ))
    client = ManagedRuntime.make(
      Cluster.layerPostgres({ url: db.url, shardingConfig: Cluster.failover(failoverSeconds) })
    )
  }, 90_000)

  afterAll(async () => {
    await client?.dispose()
    await Promise.all(runners.map((runner) => stopRunner(runner)))
    await db?.drop()
  }, 60_000)

  it("entities spread over the runners, each actor in a worker thread of its runner", async () => {
    // Runners that joined get their shards at the next assignment refresh: poll until all three answer.
    let places = await Promise.all(ids.map(place))
    for (let tries = 0; new Set(places.map((p) => p.pid)).size < 3 && tries < 60; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      places = await Promise.all(ids.map(place))
    }
    const pids = new Set(places.map((p) => p.pid))
    assert.deepStrictEqual([...pids].sort(), runners.map((r) => r.pid).sort(), "every runner hosts some of 24 entities")
    for (const p of places) assert.notStrictEqual(p.threadId, 0)
    // State lives across calls, wherever the entity runs.
    const total = await run(Effect.gen(function*() {
      const a = yield* Cluster.handle(Account, "acct-0")
      yield* a.call("deposit", { amount: 2 })
      return yield* a.call("deposit", { amount: 3 })
    }))
    assert.strictEqual(total, 5)
  })

  it("Cluster.map spreads chunks over the runners and keeps input order", async () => {
    const inputs = Array.from({ length: 240 }, (_, n) => ({ n }))
    const cubes = await run(Cluster.map(Cube, inputs, { chunkSize: 10, concurrency: 12 }))
    assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
    assert.isAbove(new Set(cubes.map((c) => c.pid)).size, 1, "chunks ran on more than one runner")
    const failed = await run(Effect.flip(Cluster.map(Cube, [{ n: 2 }, { n: -1 }], { chunkSize: 1 })))
    assert.instanceOf(failed, Negative)
  })

  it("persisted calls: the same idempotency key runs once, across processes", async () => {
    const balances = await run(Effect.gen(function*() {
      const account = yield* Cluster.handle(Account, "persisted-1")
      const first = yield* account.persist("k-1", "deposit", { amount: 5 })
      const again = yield* account.persist("k-1", "deposit", { amount: 5 })
      const other = yield* account.persist("k-2", "deposit", { amount: 5 })
      return [first, again, other, yield* account.call("balance")]
    }))
    assert.deepStrictEqual(balances, [5, 5, 10, 10])
  })

  it("declared errors and init errors cross processes as their classes", async () => {
    const refused = await run(Effect.flip(Effect.flatMap(
      Cluster.handle(Account, "acct-1"),
      (a) => a.call("withdraw", { amount: 1e9 })
    )))
    assert.instanceOf(refused, Insufficient)
    assert.strictEqual((refused as Insufficient).asked, 1e9)
    const bad = await run(Effect.flip(Effect.flatMap(Cluster.handle(Account, "bad-x"), (a) => a.call("balance"))))
    assert.instanceOf(bad, BadOwner)
  })

  it("a SIGTERMed runner finishes its calls in flight and hands over: no call fails", async () => {
    const before = await placeAll(ids)
    const leaving = runners[0]!
    const moved = ids.filter((id) => before.get(id) === leaving.pid)
    assert.isAbove(moved.length, 0)
    // Slow calls in flight on the leaving runner, and a stream of calls to every entity around the
    // signal, sent once every slow call started there (each writes its file: a fixed wait could
    // end first on a loaded machine, and calls not yet there went to the next owner).
    const startedDir = mkdtempSync(join(tmpdir(), "ep-sigterm-"))
    const started = moved.map((id) => join(startedDir, id))
    const inFlight = Promise.all(moved.map((id, i) =>
      run(Effect.flatMap(Cluster.handle(Account, id), (a) => a.call("sleep", { millis: 2500, started: started[i] })))
    ))
    while (!started.every((file) => existsSync(file))) await new Promise((resolve) => setTimeout(resolve, 10))
    leaving.child.kill("SIGTERM")
    let stop = false
    const stream = (async () => {
      let calls = 0
      while (!stop) {
        await Promise.all(ids.map((id) => run(Effect.flatMap(Cluster.handle(Account, id), (a) => a.call("balance")))))
        calls += ids.length
      }
      return calls
    })()
    const finished = await inFlight
    // Calls under way finished on the leaving runner: no call failed.
    assert.isAbove(finished.filter((p) => p.pid === leaving.pid).length, 0, "in-flight calls finished where they started")
    const exit = await leaving.exited
    stop = true
    assert.isAbove(await stream, 0)
    // Stopped by SIGTERM and drained, nothing else: a success.
    assert.strictEqual(exit.code, 0, leaving.output())
    assert.include(leaving.output(), "stopped")
    runners = runners.slice(1)
    const after = await placeAll(moved)
    for (const id of moved) assert.include(runners.map((r) => r.pid), after.get(id)!)
  }, 60_000)

  it("a SIGKILLed runner's actors answer on another runner within 10 s: persisted calls replayed, durable state restored", async () => {
    const before = await placeAll(ids)
    const victim = runners.find((r) => [...before.values()].includes(r.pid))!
    const orphan = ids.find((id) => before.get(id) === victim.pid)!
    // A durable wallet on the victim: its state is saved before each call is answered.
    const wallets = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
      const id = `wallet-${i}`
      return [id, (await run(Effect.flatMap(Cluster.handle(Wallet, id), (w) => w.call("whereAmI")))).pid] as const
    }))
    const walletId = wallets.find(([, pid]) => pid === victim.pid)![0]
    await run(Effect.flatMap(Cluster.handle(Wallet, walletId), (w) =>
      Effect.andThen(w.call("deposit", { amount: 7 }), w.call("deposit", { amount: 7 }))))
    // A persisted call in flight on the victim: stored before delivery, replayed by the new owner.
    const persisted = run(Effect.flatMap(Cluster.handle(Account, orphan), (a) => a.persist("slow-1", "sleep", { millis: 1500 })))
    await new Promise((resolve) => setTimeout(resolve, 500))
    const killedAt = Date.now()
    victim.child.kill("SIGKILL")
    await victim.exited
    runners = runners.filter((r) => r !== victim)
    // The call waits (the cluster retries delivery) or fails while the shard is in no one's hands; retry until it answers.
    let answered: { readonly pid: number } | undefined
    while (answered === undefined && Date.now() - killedAt < 30_000) {
      answered = await place(orphan).catch(() => undefined)
    }
    const seconds = (Date.now() - killedAt) / 1000
    assert.isDefined(answered)
    assert.notStrictEqual(answered!.pid, victim.pid)
    assert.isBelow(seconds, 10, `failover took ${seconds} s`)
    const replayed = await persisted
    assert.notStrictEqual(replayed.pid, victim.pid, "the persisted call was answered by the shard's next owner")
    // Restored from its last snapshot on the runner that took it over.
    const wallet = await run(Effect.flatMap(Cluster.handle(Wallet, walletId), (w) =>
      Effect.all([w.call("state"), w.call("whereAmI")])))
    assert.deepStrictEqual(wallet[0], { balance: 14, deposits: 2 })
    assert.notStrictEqual(wallet[1].pid, victim.pid)
  }, 60_000)

  it("chaos: runners killed and replaced during 1,000 calls; every call ends in a success or a typed error", async () => {
    const seed = Number(process.env.CLUSTER_CHAOS_SEED ?? Date.now() % 100_000)
    console.log(`cluster chaos seed ${seed} (replay: CLUSTER_CHAOS_SEED=${seed})`)
    let state = seed
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const spawnRunner = async () =>
      startRunner({ module: "test/fixtures/cluster-actors.ts", db: db.url, port: await freePort(), failover: failoverSeconds })
    runners.push(...await Promise.all([spawnRunner(), spawnRunner()]))
    const total = 1000
    const outcomes = { success: 0, typed: 0, other: [] as Array<string> }
    let sent = 0
    const settled = { done: false }
    const calls = Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < total) {
        const i = sent++
        const id = ids[i % ids.length]!
        // Every other call stays in flight for 20 ms, so kills land on calls under way.
        const exit = await run(Effect.exit(Effect.flatMap(Cluster.handle(Account, id), (a) =>
          i % 2 === 0 ? a.call("deposit", { amount: 1 }) : Effect.asVoid(a.call("sleep", { millis: 20 })))))
        if (exit._tag === "Success") outcomes.success++
        else {
          const error = exit.cause.reasons.find((r) => r._tag === "Fail")
          const tag = error === undefined ? undefined : (error as { error: { _tag?: string } }).error._tag
          if (tag === "ClusterError" || tag === "TaskError" || tag === "ActorError") outcomes.typed++
          else outcomes.other.push(String(exit.cause))
        }
      }
    })).finally(() => (settled.done = true))
    // Three rounds, at a random point of each quarter of the calls: kill a random runner (SIGKILL
    // or SIGTERM) while at least two are up, and start a replacement in the background.
    let kills = 0
    const replacements: Array<Promise<void>> = []
    for (let round = 0; round < 3 && !settled.done; round++) {
      const at = Math.floor(total * (round + random()) / 4)
      while (sent < at && !settled.done) await new Promise((resolve) => setTimeout(resolve, 10))
      if (settled.done || runners.length < 2) continue
      kills++
      const victim = runners[Math.floor(random() * runners.length)]!
      runners = runners.filter((r) => r !== victim)
      victim.child.kill(random() < 0.5 ? "SIGKILL" : "SIGTERM")
      replacements.push(spawnRunner().then((runner) => void runners.push(runner)))
    }
    await calls
    await Promise.all(replacements)
    console.log(`cluster chaos seed ${seed}: ${kills} kills, ${outcomes.success} successes, ${outcomes.typed} typed errors`)
    assert.isAbove(kills, 0, "runners were killed while calls were being made")
    assert.deepStrictEqual(outcomes.other, [], `seed ${seed}: calls ended in something other than a success or a typed error`)
    assert.strictEqual(outcomes.success + outcomes.typed, total, `seed ${seed}`)
    assert.isAbove(outcomes.success, 0)
  }, 90_000)

  it("a runner SIGKILLed mid-Task.map on Cluster.pool: only the tasks it held are re-sent; every element ends in a result or a typed error", async () => {
    const victim = await startRunner({
      module: "test/fixtures/cluster-actors.ts",
      db: db.url,
      port: await freePort(),
      failover: failoverSeconds
    })
    runners.push(victim)
    /** Runs `effect` on a cluster pool; counts the tasks the pool re-sent (its `Requeued` events). */
    const onPool = <A, E>(effect: Effect.Effect<A, E, Task.Runner<"Cube" | "Nap">>, options?: Cluster.PoolOptions) => {
      let resent = 0
      return run(Effect.gen(function*() {
        const pool = yield* runnerKey("Cube")
        const unsubscribe = pool.events.subscribe({ onEvent: (event) => void (event._tag === "Requeued" && resent++) })
        const value = yield* Effect.ensuring(effect, Effect.sync(unsubscribe))
        return { value, resent }
      }).pipe(Effect.provide(Cluster.pool(ClusterTasks, options))))
    }
    const probe = Array.from({ length: 128 }, (_, n) => ({ n }))
    // The new runner gets its shards at the next assignment refresh: wait until it answers chunks.
    let pids = new Set<number>()
    for (let tries = 0; !pids.has(victim.pid) && tries < 80; tries++) {
      pids = new Set((await onPool(Task.map(Cube, probe, { chunkSize: 2 }))).value.map((c) => c.pid))
      if (!pids.has(victim.pid)) await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.isTrue(pids.has(victim.pid), "the new runner answers chunks")
    const chunkSize = 4
    const concurrency = 8
    const done = mkdtempSync(join(tmpdir(), "ep-sigkill-map-"))
    const inputs = Array.from({ length: 240 }, (_, n) => ({ n, millis: 40 }))
    const mapped = onPool(Task.map(Cube, inputs.map((input) => ({ ...input, done })), { chunkSize }), { retries: 2, concurrency })
    // Single runs with no retries, in flight at the same moment: each ends in a result or a typed error.
    const singles = onPool(
      Effect.forEach(inputs.slice(0, 48), (input) => Effect.exit(Task.run(Cube, input)), { concurrency: 12 })
    )
    // Killed once the victim computed two whole chunks of the map (chunk k: inputs k × chunkSize
    // on), so the first one's reply left it a chunk's work before: a fixed 800 ms wait could end
    // first on a loaded machine, and then the victim had answered none.
    const victimChunks = () => {
      const mine = new Set(readdirSync(done).filter((file) => {
        try {
          return readFileSync(join(done, file), "utf8") === String(victim.pid)
        } catch {
          return false // being written
        }
      }).map(Number))
      let whole = 0
      for (let k = 0; k * chunkSize < inputs.length; k++) {
        if (Array.from({ length: chunkSize }, (_, i) => k * chunkSize + i).every((n) => mine.has(n))) whole++
      }
      return whole
    }
    let mapEnded = false
    void mapped.finally(() => (mapEnded = true)).catch(() => {})
    while (victimChunks() < 2 && !mapEnded) await new Promise((resolve) => setTimeout(resolve, 10))
    victim.child.kill("SIGKILL")
    await victim.exited
    runners = runners.filter((r) => r !== victim)
    const { resent, value: cubes } = await mapped
    assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3), "every element, in input order")
    assert.isTrue(cubes.some((c) => c.pid === victim.pid), "the killed runner was taking the map's chunks")
    // Re-sent: at most the tasks in flight when the runner died (chunks in flight × chunk size),
    // never the whole map.
    assert.isAtMost(resent, concurrency * chunkSize)
    for (const exit of (await singles).value) {
      if (exit._tag === "Success") continue
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
      assert.isDefined(error, String(exit.cause))
      assert.instanceOf((error as { readonly error: unknown }).error, TaskError.TaskError)
      const failure = (error as { readonly error: TaskError.TaskError }).error
      assert.strictEqual(failure.reason._tag, "WorkerLost", failure.message)
      assert.match(failure.input, /n: \d+/)
    }
    // The cluster's client itself re-sends a chunk whose runner became unreachable to the shard's
    // next owner (then `resent` is 0); `retries` re-sends what the cluster reports lost.
    console.log(
      `Cluster.pool under a SIGKILL: ${resent} tasks re-sent by retries; ${
        cubes.filter((c) => c.pid === victim.pid).length
      } of ${cubes.length} answered by the killed runner before it died`
    )
  }, 90_000)
})
