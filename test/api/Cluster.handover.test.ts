/**
 * A SIGTERMed runner hands over with no failed call, even for a call that reached it while the
 * entity it was for was still being activated: two `effect-parallel runner` processes on
 * PostgreSQL, and a durable actor whose activation (its snapshot load) is held up by a lock on the
 * state table, so the signal lands while the call waits for it — deterministically, not by timing.
 * effect/cluster interrupts such a call (it never started) instead of re-routing it; the client
 * must re-send it to the shard's next owner.
 *
 * Skipped, saying so, where no PostgreSQL answers (see test/support/postgres.ts).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { Cluster } from "../../src/index.ts"
import { Account, Wallet } from "../fixtures/cluster-actors.ts"
import { findPostgres, freshDatabase } from "../support/postgres.ts"
import { freePort, type RunnerProcess, startRunner, stopRunner } from "../support/runners.ts"

const baseUrl = await findPostgres()
const failoverSeconds = 3

describe.skipIf(baseUrl === undefined)("Cluster handover on PostgreSQL, 2 runner processes", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>
  let runners: Array<RunnerProcess> = []
  let client: ManagedRuntime.ManagedRuntime<Cluster.Sharding, unknown>
  let sql: ManagedRuntime.ManagedRuntime<PgClient.PgClient, unknown>
  const run = <A, E>(effect: Effect.Effect<A, E, Cluster.Sharding>) => client.runPromise(effect)

  beforeAll(async () => {
    db = await freshDatabase(baseUrl!)
    runners = await Promise.all([0, 1].map(async () =>
      startRunner({ module: "test/fixtures/cluster-actors.ts", db: db.url, port: await freePort(), failover: failoverSeconds })
    ))
    client = ManagedRuntime.make(Cluster.layerPostgres({ url: db.url, shardingConfig: Cluster.failover(failoverSeconds) }))
    sql = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(db.url) }))
  }, 90_000)

  afterAll(async () => {
    await client?.dispose()
    await sql?.dispose()
    await Promise.all(runners.map((runner) => stopRunner(runner)))
    await db?.drop()
  }, 60_000)

  it("a call waiting for its entity's activation on a SIGTERMed runner is answered by the next owner", async () => {
    // Which runner owns which shard, learned from an ephemeral actor: a Wallet with the same id is
    // on the same shard and not yet activated. Poll until both runners hold shards.
    const ids = Array.from({ length: 24 }, (_, i) => `h-${i}`)
    const owners = async () =>
      new Map(await Promise.all(ids.map(async (id) =>
        [id, (await run(Effect.flatMap(Cluster.handle(Account, id), (a) => a.call("whereAmI")))).pid] as const
      )))
    let owner = await owners()
    for (let tries = 0; new Set(owner.values()).size < 2 && tries < 80; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      owner = await owners()
    }
    const leaving = runners[0]!
    const id = ids.find((id) => owner.get(id) === leaving.pid)
    assert.isDefined(id, "the leaving runner owns a shard")

    // Hold the state table: the Wallet's activation (its snapshot load) waits on the lock.
    const release = Deferred.makeUnsafe<void>()
    const locked = Deferred.makeUnsafe<void>()
    const holder = sql.runPromise(Effect.flatMap(PgClient.PgClient, (pg) =>
      pg.withTransaction(Effect.gen(function*() {
        yield* pg`LOCK TABLE effect_parallel_actor_state IN ACCESS EXCLUSIVE MODE`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(release)
      }))))
    await Effect.runPromise(Deferred.await(locked))
    const call = run(Effect.exit(Effect.flatMap(Cluster.handle(Wallet, id!), (w) => w.call("whereAmI"))))
    // The load is parked on the lock once PostgreSQL says a query waits for one.
    const waiting = () =>
      sql.runPromise(Effect.flatMap(PgClient.PgClient, (pg) =>
        pg<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%FROM effect_parallel_actor_state%'`))
    const deadline = Date.now() + 10_000
    while ((await waiting())[0]!.n === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.isAbove((await waiting())[0]!.n, 0, "the activation waits on the lock")

    leaving.child.kill("SIGTERM")
    // Its shutdown gives up the activation; the lock goes once the runner is gone (or the call ended).
    await Promise.race([leaving.exited, call])
    await Effect.runPromise(Deferred.succeed(release, undefined))
    await holder
    const exit = await call
    assert.isTrue(Exit.isSuccess(exit), `the call failed: ${Exit.isFailure(exit) ? String(exit.cause) : ""}`)
    if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.pid, runners[1]!.pid, "answered by the shard's next owner")
    assert.strictEqual((await leaving.exited).code, 0, leaving.output())
    runners = runners.slice(1)
  }, 60_000)
})
