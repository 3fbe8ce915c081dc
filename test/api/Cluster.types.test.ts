/**
 * The cluster's type-level guarantees, checked by `npm run typecheck`: a handle requires the cluster
 * client (`Sharding`) and carries the method's declared error, the actor's init error and the typed
 * failures; a host must give every actor its init, typed by the actor; a durable host's `restored`
 * is the snapshot method's success.
 */
import { describe, expectTypeOf, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { ActorError, ClusterError, PoolError, TaskError } from "../../src/index.ts"
import { Cluster, Task } from "../../src/index.ts"
import { Account, type BadOwner, ClusterTasks, Cube, type Insufficient, type Negative, Wallet, WalletState } from "../fixtures/cluster-actors.ts"

describe("Cluster types", () => {
  it("a handle requires Sharding; its calls carry declared, init and typed failures", () => {
    const handle = Cluster.handle(Account, "a")
    expectTypeOf(handle).toEqualTypeOf<Effect.Effect<Cluster.Handle<typeof Account>, PoolError.PoolError, Cluster.Sharding>>()
    expectTypeOf(Cluster.map(Cube, [{ n: 1 }])).toEqualTypeOf<
      Effect.Effect<Array<{ readonly cube: number; readonly pid: number }>, Negative | TaskError.TaskError | PoolError.PoolError, Cluster.Sharding>
    >()
    // A cluster-backed pool provides the group's tasks (not its actors) and requires the cluster client.
    expectTypeOf(Cluster.pool(ClusterTasks)).toEqualTypeOf<Layer.Layer<Task.Runner<"Cube" | "Nap">, PoolError.PoolError, Cluster.Sharding>>()
    expectTypeOf(Task.map(Cube, [{ n: 1 }]).pipe(Effect.provide(Cluster.pool(ClusterTasks)))).toEqualTypeOf<
      Effect.Effect<Array<{ readonly cube: number; readonly pid: number }>, Negative | TaskError.TaskError | PoolError.PoolError, Cluster.Sharding>
    >()
    const check = (h: Cluster.Handle<typeof Account>) => {
      expectTypeOf(h.call("withdraw", { amount: 1 })).toEqualTypeOf<
        Effect.Effect<
          number,
          Insufficient | TaskError.TaskError | ActorError.ActorError | BadOwner | ClusterError.ClusterError
        >
      >()
      expectTypeOf(h.tell("deposit", { amount: 1 })).toEqualTypeOf<
        Effect.Effect<void, TaskError.TaskError | ClusterError.ClusterError>
      >()
      // @ts-expect-error the payload is typed by the method's Schema
      void h.call("deposit", { amount: "1" })
      // @ts-expect-error no such method
      void h.call("nope")
      void h.persist("key", "deposit", { amount: 1 })
    }
    void check
  })

  it("a host gives every actor its init, typed by the actor; a durable one gets the snapshot's type", () => {
    Cluster.host(ClusterTasks, {
      entry: "x.ts",
      actors: {
        Account: { init: (entityId) => ({ owner: entityId }) },
        Wallet: {
          snapshot: "state",
          init: (entityId, restored) => {
            expectTypeOf(restored).toEqualTypeOf<typeof WalletState.Type | undefined>()
            return { owner: entityId }
          }
        }
      }
    })
    const missing = () =>
      Cluster.host(ClusterTasks, {
        entry: "x.ts",
        // @ts-expect-error Wallet has no init
        actors: { Account: { init: (entityId) => ({ owner: entityId }) } }
      })
    const wrongInit = () =>
      Cluster.host(Task.group(Account), {
        entry: "x.ts",
        // @ts-expect-error init arguments are typed by the actor
        actors: { Account: { init: () => ({ owner: 1 }) } }
      })
    void missing
    void wrongInit
    void Wallet
  })
})
