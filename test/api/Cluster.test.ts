/**
 * Actors on the in-memory cluster (`Cluster.layerMemory`): one process, the runner's pool of
 * worker threads, calls through the cluster's client with every message going through its
 * Schemas. The PostgreSQL suite (Cluster.postgres.test.ts) runs the same actors across processes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as EffectClusterError from "effect/cluster/ClusterError"
import * as EntityAddress from "effect/cluster/EntityAddress"
import * as EntityId from "effect/cluster/EntityId"
import * as EntityType from "effect/cluster/EntityType"
import * as ShardId from "effect/cluster/ShardId"
import * as TestRunner from "effect/cluster/TestRunner"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Schema from "effect/Schema"
import { SqlError } from "effect/sql/SqlError"
import { Actor, ActorError as ActorErrorModule, Cluster, ClusterError, PoolError, SharedArray, Task, TaskError } from "../../src/index.ts"
import { catchRemoteInterrupt, remoteInterruptResends, toCallFailure } from "../../src/runtime/cluster/ActorEntity.ts"
import Host, { Account, BadOwner, ClusterTasks, Cube, Insufficient, Negative, Wallet } from "../fixtures/cluster-actors.ts"

const Runner = Cluster.layerRunner(Host, Cluster.layerMemory)

describe("Cluster (in memory)", () => {
  it.live("an entity id is an actor whose state lives across calls in a worker thread", () =>
    Effect.gen(function*() {
      const alice = yield* Cluster.handle(Account, "alice")
      const bob = yield* Cluster.handle(Account, "bob")
      assert.strictEqual(yield* alice.call("deposit", { amount: 5 }), 5)
      assert.strictEqual(yield* alice.call("deposit", { amount: 7 }), 12)
      assert.strictEqual(yield* bob.call("deposit", { amount: 1 }), 1)
      // A second handle to the same id reaches the same actor.
      const again = yield* Cluster.handle(Account, "alice")
      assert.strictEqual(yield* again.call("balance"), 12)
      const place = yield* alice.call("whereAmI")
      assert.strictEqual(place.pid, process.pid)
      assert.notStrictEqual(place.threadId, 0, "the actor runs in a worker thread, not on the runner's thread")
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("declared errors, init errors and bad payloads arrive as their classes", () =>
    Effect.gen(function*() {
      const alice = yield* Cluster.handle(Account, "carol")
      yield* alice.call("deposit", { amount: 3 })
      const refused = yield* Effect.flip(alice.call("withdraw", { amount: 10 }))
      assert.instanceOf(refused, Insufficient)
      assert.deepStrictEqual({ balance: refused.balance, asked: refused.asked }, { balance: 3, asked: 10 })
      const bad = yield* Cluster.handle(Account, "bad-dave")
      const initFailure = yield* Effect.flip(bad.call("balance"))
      assert.instanceOf(initFailure, BadOwner)
      assert.strictEqual((initFailure as BadOwner).owner, "bad-dave")
      // A payload that fails its Schema never leaves the caller: a typed failure, not a hang.
      const invalid = yield* Effect.flip(alice.call("deposit", { amount: "x" as unknown as number }))
      assert.instanceOf(invalid, TaskError.TaskError)
      assert.strictEqual((invalid as TaskError.TaskError).reason._tag, "PayloadInvalid")
      assert.deepStrictEqual(((invalid as TaskError.TaskError).reason as TaskError.PayloadInvalid).path, ["amount"])
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("a payload left out of a method whose payload is a struct of optional fields is {}, as locally", () =>
    Effect.gen(function*() {
      const ivy = yield* Cluster.handle(Account, "ivy")
      yield* ivy.call("deposit", { amount: 5 })
      // It went out as `undefined`, which the struct refuses: TaskError / PayloadInvalid.
      assert.strictEqual(yield* ivy.call("reset"), 0)
      assert.strictEqual(yield* ivy.call("reset", { to: 3 }), 3)
      assert.strictEqual(yield* ivy.persist("reset-1", "reset"), 0)
      yield* ivy.tell("reset")
      assert.strictEqual(yield* ivy.call("balance"), 0)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("calls to one entity are handled in order; tell is fire and forget", () =>
    Effect.gen(function*() {
      const erin = yield* Cluster.handle(Account, "erin")
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i + 1),
        (amount) => erin.call("deposit", { amount }),
        { concurrency: "unbounded" }
      )
      // Each deposit answers the running balance: handled one at a time, every answer distinct.
      assert.strictEqual(new Set(results).size, 20)
      assert.strictEqual(Math.max(...results), 210)
      yield* erin.tell("deposit", { amount: 1000 })
      assert.strictEqual(yield* erin.call("balance"), 1210)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("a persisted call with an idempotency key runs once: the same key answers the stored reply", () =>
    Effect.gen(function*() {
      const gail = yield* Cluster.handle(Account, "gail")
      assert.strictEqual(yield* gail.persist("deposit-1", "deposit", { amount: 4 }), 4)
      assert.strictEqual(yield* gail.persist("deposit-1", "deposit", { amount: 4 }), 4)
      assert.strictEqual(yield* gail.persist("deposit-2", "deposit", { amount: 4 }), 8)
      assert.strictEqual(yield* gail.call("balance"), 8)
      const refused = yield* Effect.flip(gail.persist("withdraw-1", "withdraw", { amount: 100 }))
      assert.instanceOf(refused, Insufficient)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("an actor whose worker died is built again for the next call, from fresh state", () =>
    Effect.gen(function*() {
      const frank = yield* Cluster.handle(Account, "frank")
      yield* frank.call("deposit", { amount: 9 })
      const before = yield* frank.call("whereAmI")
      const lost = yield* Effect.flip(frank.call("crash"))
      assert.instanceOf(lost, TaskError.TaskError)
      assert.strictEqual((lost as TaskError.TaskError).reason._tag, "WorkerLost")
      assert.strictEqual(yield* frank.call("balance"), 0)
      const after = yield* frank.call("whereAmI")
      assert.notStrictEqual(after.workerId, before.workerId, "rebuilt on the pool's replacement worker")
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("an init failure fails the calls that saw it; the next call builds the actor again", () =>
    Effect.gen(function*() {
      const marker = join(mkdtempSync(join(tmpdir(), "ep-once-")), "failed")
      const flaky = yield* Cluster.handle(Account, `once:${marker}`)
      // The entity stays active (busy well within maxIdleTime): the old code answered every call
      // with the first activation's failure until the entity was passivated.
      const first = yield* Effect.flip(flaky.call("balance"))
      assert.instanceOf(first, BadOwner)
      // Past the init backoff (100 ms by default): the next call builds it again.
      yield* Effect.sleep("150 millis")
      assert.strictEqual(yield* flaky.call("deposit", { amount: 2 }), 2)
      assert.strictEqual(yield* flaky.call("balance"), 2)
      // A failure that stays fails each call.
      const bad = yield* Cluster.handle(Account, "bad-erik")
      assert.instanceOf(yield* Effect.flip(bad.call("balance")), BadOwner)
      assert.instanceOf(yield* Effect.flip(bad.call("balance")), BadOwner)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("calls within a failed init's backoff fail at once with its error, without running the init again", () =>
    Effect.gen(function*() {
      const inits = new Map<string, number>()
      const counted = (entityId: string) => {
        inits.set(entityId, (inits.get(entityId) ?? 0) + 1)
        return { owner: entityId }
      }
      const host = Cluster.host(ClusterTasks, {
        entry: new URL("../fixtures/cluster-worker.ts", import.meta.url),
        size: 1,
        actors: {
          // A backoff no run of this test outlasts: every call below falls within it.
          Account: { init: counted, restart: { maxRestarts: 0, backoff: "10 minutes" } },
          Wallet: { snapshot: "state", init: (entityId) => ({ owner: entityId }) }
        }
      })
      yield* Effect.gen(function*() {
        const bad = yield* Cluster.handle(Account, "bad-fiona")
        for (let i = 0; i < 10; i++) {
          const failure = yield* Effect.flip(bad.call("balance"))
          assert.instanceOf(failure, BadOwner)
          assert.strictEqual((failure as BadOwner).owner, "bad-fiona")
        }
        // Concurrent callers too: they share the one failed build.
        const concurrent = yield* Effect.forEach(Array.from({ length: 10 }), () => Effect.flip(bad.call("balance")), {
          concurrency: "unbounded"
        })
        for (const failure of concurrent) assert.instanceOf(failure, BadOwner)
        assert.strictEqual(inits.get("bad-fiona"), 1, "one init for 20 calls")
        // Another entity of the type has its own backoff, and a good one is not held back.
        const good = yield* Cluster.handle(Account, "gina")
        assert.strictEqual(yield* good.call("deposit", { amount: 4 }), 4)
        assert.strictEqual(inits.get("gina"), 1)
      }).pipe(Effect.provide(Cluster.layerRunner(host, Cluster.layerMemory)))
    }), 30_000)

  it.live("an init of the host that throws fails the calls that waited for that build, as ActorError / InitFailed", () =>
    Effect.gen(function*() {
      const host = Cluster.host(ClusterTasks, {
        entry: new URL("../fixtures/cluster-worker.ts", import.meta.url),
        size: 1,
        actors: {
          Account: {
            init: (entityId) => {
              if (entityId.startsWith("no-")) throw new Error(`no account ${entityId}`)
              return { owner: entityId }
            }
          },
          Wallet: { snapshot: "state", init: (entityId) => ({ owner: entityId }) }
        }
      })
      yield* Effect.gen(function*() {
        // Was a defect of the entity, which restarted and replayed the call without end: no answer.
        const missing = yield* Cluster.handle(Account, "no-henry")
        const failure = yield* Effect.flip(missing.call("balance"))
        assert.instanceOf(failure, ActorErrorModule.ActorError)
        const error = failure as ActorErrorModule.ActorError
        assert.strictEqual(error.reason._tag, "InitFailed")
        assert.strictEqual((error.reason as ActorErrorModule.InitFailed).failure, "Defect")
        assert.include(error.reason.message, "no account no-henry")
        assert.include(error.input, "no-henry")
        const fine = yield* Cluster.handle(Account, "henry")
        assert.strictEqual(yield* fine.call("deposit", { amount: 3 }), 3)
      }).pipe(Effect.provide(Cluster.layerRunner(host, Cluster.layerMemory)))
    }), 30_000)

  it.live("a durable actor whose worker died is built again from its last snapshot", () =>
    Effect.gen(function*() {
      const wallet = yield* Cluster.handle(Wallet, "w-3")
      yield* wallet.call("deposit", { amount: 5 })
      yield* wallet.call("deposit", { amount: 5 })
      const lost = yield* Effect.flip(wallet.call("crash"))
      assert.strictEqual((lost as TaskError.TaskError).reason._tag, "WorkerLost")
      assert.deepStrictEqual(yield* wallet.call("deposit", { amount: 1 }), { balance: 11, deposits: 3 })
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("Cluster.map and Cluster.stream run chunks on the runner's pool and keep input order; a declared error fails them", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 100 }, (_, n) => ({ n }))
      const cubes = yield* Cluster.map(Cube, inputs, { chunkSize: 7 })
      assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const failed = yield* Effect.flip(Cluster.map(Cube, [{ n: 1 }, { n: -2 }, { n: 3 }], { chunkSize: 1 }))
      assert.instanceOf(failed, Negative)
      assert.strictEqual((failed as Negative).n, -2)
      const streamed = yield* Stream.range(0, 99).pipe(
        Stream.map((n) => ({ n })),
        Cluster.stream(Cube, { chunkSize: 9, concurrency: 3 }),
        Stream.runCollect
      )
      assert.deepStrictEqual(streamed.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const streamFailed = yield* Effect.flip(
        Stream.make({ n: 1 }, { n: -5 }).pipe(Cluster.stream(Cube, { chunkSize: 1 }), Stream.runDrain)
      )
      assert.instanceOf(streamFailed, Negative)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("a durable actor's state is saved and restored by its next activation", () =>
    Effect.gen(function*() {
      // One store, two runners in turn: the second activation of the wallet starts from the snapshot.
      const store = yield* Layer.build(Cluster.layerStateMemory)
      const runnerOnStore = Cluster.layerRunner(Host, Layer.merge(TestRunner.layer, Layer.succeedContext(store)))
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const wallet = yield* Cluster.handle(Wallet, "w-1")
        yield* wallet.call("deposit", { amount: 10 })
        return yield* wallet.call("deposit", { amount: 5 })
      }).pipe(Effect.provide(runnerOnStore)))
      assert.deepStrictEqual(first, { balance: 15, deposits: 2 })
      const second = yield* Effect.scoped(Effect.gen(function*() {
        const wallet = yield* Cluster.handle(Wallet, "w-1")
        return yield* wallet.call("deposit", { amount: 1 })
      }).pipe(Effect.provide(runnerOnStore)))
      assert.deepStrictEqual(second, { balance: 16, deposits: 3 })
    }).pipe(Effect.scoped), 30_000)

  it.live("a durable actor's persisted calls are deduplicated per method: the same key on another method is another call", () =>
    Effect.gen(function*() {
      const wallet = yield* Cluster.handle(Wallet, "w-4")
      assert.deepStrictEqual(yield* wallet.persist("order-7", "deposit", { amount: 5 }), { balance: 5, deposits: 1 })
      // It was answered deposit's saved reply, which whereAmI's Schema does not decode: the entity
      // died on it at each replay of the persisted call, which never ended.
      const place = yield* wallet.persist("order-7", "whereAmI")
      assert.strictEqual(place.pid, process.pid)
      assert.deepStrictEqual(yield* wallet.persist("order-7", "deposit", { amount: 5 }), { balance: 5, deposits: 1 })
      assert.deepStrictEqual(yield* wallet.call("state"), { balance: 5, deposits: 1 })
    }).pipe(Effect.provide(Runner)), 30_000)

  it.live("a durable actor answers a replayed persisted call from the reply saved with its state, without running it again", () =>
    Effect.gen(function*() {
      // The second runner has fresh message storage (as if the reply was never stored) and the same
      // state store: the call arrives again and must not be applied twice.
      const store = yield* Layer.build(Cluster.layerStateMemory)
      const runnerOnStore = () => Cluster.layerRunner(Host, Layer.merge(TestRunner.layer, Layer.succeedContext(store)))
      const deposit = Effect.flatMap(Cluster.handle(Wallet, "w-2"), (w) => w.persist("p-1", "deposit", { amount: 10 }))
      const first = yield* Effect.scoped(Effect.provide(deposit, runnerOnStore()))
      assert.deepStrictEqual(first, { balance: 10, deposits: 1 })
      const replayed = yield* Effect.scoped(Effect.provide(
        Effect.gen(function*() {
          const again = yield* deposit
          const wallet = yield* Cluster.handle(Wallet, "w-2")
          return [again, yield* wallet.call("state"), yield* wallet.persist("p-2", "deposit", { amount: 1 })]
        }),
        runnerOnStore()
      ))
      assert.deepStrictEqual(replayed, [{ balance: 10, deposits: 1 }, { balance: 10, deposits: 1 }, { balance: 11, deposits: 2 }])
    }).pipe(Effect.scoped), 30_000)

  it.live("a durable actor's saved reply that no longer decodes fails its replayed call with TaskError, once", () =>
    Effect.gen(function*() {
      // A reply saved by an older version of the method, whose success Schema has changed since.
      const store = yield* Layer.build(Cluster.layerStateMemory)
      yield* Context.get(store, Cluster.StateStore).save(
        "Wallet",
        "w-5",
        JSON.stringify({ state: { balance: 10, deposits: 1 }, replies: [["deposit\u0000p-9", { ok: true, value: { total: 10 } }]] })
      )
      const runnerOnStore = Cluster.layerRunner(Host, Layer.merge(TestRunner.layer, Layer.succeedContext(store)))
      const [replayed, state, next] = yield* Effect.scoped(Effect.provide(
        Effect.gen(function*() {
          const wallet = yield* Cluster.handle(Wallet, "w-5")
          // The old code died decoding it: the entity restarted and the message was replayed, forever.
          const replayed = yield* Effect.flip(wallet.persist("p-9", "deposit", { amount: 5 }))
          return [replayed, yield* wallet.call("state"), yield* wallet.persist("p-10", "deposit", { amount: 1 })] as const
        }),
        runnerOnStore
      ))
      assert.instanceOf(replayed, TaskError.TaskError)
      const error = replayed as TaskError.TaskError
      assert.strictEqual(error.reason._tag, "Defect")
      assert.strictEqual((error.reason as TaskError.Defect).remoteName, "ReplyDecodeError")
      assert.include(error.message, "p-9")
      // Not run again: its effect is in the saved state.
      assert.deepStrictEqual(state, { balance: 10, deposits: 1 })
      assert.deepStrictEqual(next, { balance: 11, deposits: 2 })
    }).pipe(Effect.scoped), 30_000)

  it.effect("an actor whose methods carry shared memory is refused: its handle with PoolError / Unsupported, its host when made", () =>
    Effect.gen(function*() {
      // Calls cross as JSON, where a shared array has no form: the old code hosted it and gave handles.
      const Summer = Actor.make("Summer", {
        init: {},
        methods: { fill: { payload: { values: SharedArray.Float64 }, success: Schema.Number }, count: { success: Schema.Number } }
      })
      const refused = yield* Effect.flip(Cluster.handle(Summer, "s-1"))
      assert.instanceOf(refused, PoolError.PoolError)
      assert.strictEqual(refused.reason._tag, "Unsupported")
      assert.include(refused.message, "Summer")
      assert.include(refused.message, "fill")
      assert.throws(
        () => Cluster.host(Task.group(Summer), { entry: "x.ts", actors: { Summer: { init: () => ({}) } } }),
        /actor "Summer"'s method "fill" carries shared memory/
      )
    }).pipe(Effect.provide(Cluster.layerMemory)))

  it("a durable host whose snapshots could never be saved is refused when it is made", () => {
    const hostWith = (wallet: Record<string, unknown>) => () =>
      Cluster.host(ClusterTasks, {
        entry: "x.ts",
        actors: {
          Account: { init: (entityId) => ({ owner: entityId }) },
          Wallet: { init: (entityId: string) => ({ owner: entityId }), ...wallet } as never
        }
      })
    // NaN: the count never reached, the state saved only at passivation (never, on a killed runner).
    assert.throws(hostWith({ snapshot: "state", snapshotEvery: Number.NaN }), /snapshotEvery must be a positive integer, got NaN/)
    assert.throws(hostWith({ snapshot: "state", snapshotEvery: 0 }), /snapshotEvery/)
    assert.throws(hostWith({ snapshot: "state", snapshotEvery: 2.5 }), /snapshotEvery/)
    // A method that needs a payload: every snapshot failed (a logged warning), nothing saved.
    assert.throws(hostWith({ snapshot: "deposit" }), /snapshot method "deposit" must take no payload/)
    assert.throws(hostWith({ snapshot: "nope" }), /has no method "nope"/)
    assert.doesNotThrow(hostWith({ snapshot: "state", snapshotEvery: 3 }))
    assert.doesNotThrow(hostWith({ snapshot: "state", snapshotEvery: Infinity }))
  })

  it("a host whose actor lifetime is not one is refused when it is made", () => {
    const hostWith = (account: Record<string, unknown>) => () =>
      Cluster.host(ClusterTasks, {
        entry: "x.ts",
        actors: {
          Account: { init: (entityId: string) => ({ owner: entityId }), ...account } as never,
          Wallet: { snapshot: "state", init: (entityId) => ({ owner: entityId }) }
        }
      })
    // A restart policy that is not one made every build of the actor die on the runner: the entity
    // restarted and replayed the call without end, and its caller waited forever.
    assert.throws(hostWith({ restart: { maxRestarts: Number.NaN } }), /Cluster.host\(Account\): restart.maxRestarts must be/)
    assert.throws(hostWith({ restart: { backoff: -1 } }), /Cluster.host\(Account\): restart.backoff must be a duration >= 0; got -1/)
    assert.throws(hostWith({ restart: { maxBackoff: "soon" } }), /restart.maxBackoff/)
    // "soon" stopped the runner ("Invalid Input: soon"); -1 and NaN were taken as durations.
    for (const maxIdleTime of ["soon", -1, Number.NaN]) {
      assert.throws(hostWith({ maxIdleTime }), /Cluster.host\(Account\): maxIdleTime must be a duration >= 0/, String(maxIdleTime))
    }
    assert.doesNotThrow(hostWith({ maxIdleTime: "5 minutes", restart: { maxRestarts: Infinity, backoff: "1 second" } }))
    assert.doesNotThrow(hostWith({ maxIdleTime: Infinity }))
  })

  it("layerPostgres refuses a runner port others cannot reach it at", () => {
    // Port 0 listened on a port of the OS's choice but registered port 0 for the others to call.
    const url = "postgres://x@127.0.0.1:1/x"
    assert.throws(() => Cluster.layerPostgres({ url, runner: { host: "127.0.0.1", port: 0 } }), /runner.port must be a port number from 1 to 65535, got 0/)
    assert.throws(() => Cluster.layerPostgres({ url, runner: { host: "127.0.0.1", port: 70000 } }), /runner.port/)
    assert.doesNotThrow(() => Cluster.layerPostgres({ url, runner: { host: "127.0.0.1", port: 34431 } }))
    assert.doesNotThrow(() => Cluster.layerPostgres({ url }))
  })

  it.live("layerPostgres fails with SqlError where its database cannot be reached (it died)", () =>
    Effect.gen(function*() {
      // effect/cluster's migrations and the state store's table check died on their SqlError.
      for (const url of ["postgres://x:y@127.0.0.1:1/x", "not a url"]) {
        const exit = yield* Effect.exit(Effect.provide(Effect.void, Cluster.layerPostgres({ url })))
        assert.isTrue(exit._tag === "Failure", url)
        const failure = (exit as Exit.Failure<unknown, unknown>).cause.reasons.find((reason) => reason._tag === "Fail")
        assert.isDefined(failure, `${url}: ${String(exit)}`)
        assert.instanceOf((failure as { readonly error: unknown }).error, SqlError, url)
      }
    }), 30_000)

  it("failover refuses lock expiries its refreshes could not keep up with", () => {
    // Locks are refreshed every 250 ms at the fastest; below a second they would lapse between refreshes.
    for (const seconds of [0, 0.001, 0.5, Number.NaN, Infinity]) {
      assert.throws(() => Cluster.failover(seconds), /seconds must be a number of at least 1/, String(seconds))
    }
    assert.strictEqual(Duration.toMillis(Cluster.failover(2).shardLockExpiration!), 2_000)
  })

  it("a delivery failure becomes ClusterError / Undelivered naming the entity and method", () => {
    const failure = toCallFailure("Account", "zoe", "deposit", { _tag: "MailboxFull", message: "full" })
    assert.instanceOf(failure, ClusterError.ClusterError)
    assert.strictEqual(((failure as ClusterError.ClusterError).reason as ClusterError.Undelivered).failure, "MailboxFull")
    assert.include((failure as ClusterError.ClusterError).message, "Account/zoe.deposit")
    const declared = new Insufficient({ balance: 0, asked: 1 })
    assert.strictEqual(toCallFailure("Account", "zoe", "withdraw", declared), declared)
    // effect/cluster's own errors have an empty message, their facts in fields: the message said
    // nothing after "Undelivered (PersistenceError): ", the storage's cause was lost.
    const address = EntityAddress.make({ shardId: ShardId.make("default", 3), entityType: EntityType.make("Account"), entityId: EntityId.make("zoe") })
    const said = (error: unknown) => (toCallFailure("Account", "zoe", "deposit", error) as ClusterError.ClusterError).message
    assert.include(said(new EffectClusterError.PersistenceError({ cause: new Error("connection terminated") })), "connection terminated")
    assert.include(said(new EffectClusterError.EntityNotAssignedToRunner({ address })), "no runner owns the entity's shard (shard default/3)")
    assert.include(said(new EffectClusterError.MailboxFull({ address })), "mailbox is full (shard default/3)")
  })

  it.live("a call interrupted on its runner is sent again, then fails with ClusterError / Interrupted; the caller's own interruption stays one", () =>
    Effect.gen(function*() {
      // Interrupted by its runner twice (a runner shutting down, then another), answered the third time.
      let sends = 0
      const flaky = Effect.suspend(() => ++sends <= 2 ? Effect.interrupt : Effect.succeed("answered"))
      assert.strictEqual(yield* catchRemoteInterrupt("Account", "zoe", "sleep", flaky), "answered")
      assert.strictEqual(sends, 3)
      sends = 0
      const always = Effect.suspend(() => (sends++, Effect.interrupt))
      const remote = yield* Effect.flip(catchRemoteInterrupt("Account", "zoe", "sleep", always))
      assert.instanceOf(remote, ClusterError.ClusterError)
      assert.strictEqual(remote.reason._tag, "Interrupted")
      assert.strictEqual(sends, remoteInterruptResends + 1)
      // A failure is not re-sent.
      sends = 0
      yield* Effect.flip(catchRemoteInterrupt("Account", "zoe", "sleep", Effect.suspend(() => (sends++, Effect.fail("no")))))
      assert.strictEqual(sends, 1)
      const fiber = yield* Effect.forkChild(catchRemoteInterrupt("Account", "zoe", "sleep", Effect.never))
      yield* Effect.yieldNow
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(exit._tag === "Failure" && Cause.hasInterruptsOnly(exit.cause))
    }))
})
