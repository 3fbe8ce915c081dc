/**
 * `effect/rpc` — Effect's own RPC over worker threads, as a user would wire it:
 * `RpcClient.make` over `RpcClient.layerProtocolWorker({ size: workers })` and
 * `NodeWorker.layer`, the server in `effect-rpc.worker.ts`. A batch is
 * `Effect.forEach(inputs, client.Add, { concurrency })`.
 *
 * Two knobs, tuned on 2 cores with 20,000-task batches after two warm-up
 * batches, one run each on a shared machine (tasks/s relative to the default,
 * unbounded `forEach`):
 *
 * | forEach concurrency | per-worker pool concurrency | relative | peak RSS |
 * |---------------------|-----------------------------|----------|----------|
 * | unbounded           | 1 (default)                 | 1.00     | 940 MB   |
 * | 128                 | 1                           | 1.31     | 330 MB   |
 * | 32                  | 1                           | 1.46     | 290 MB   |
 * | 512                 | 256                         | 2.04     | 390 MB   |
 * | 128                 | 64                          | 2.16     | 380 MB   |
 * | 32                  | 16                          | 2.47     | 320 MB   |
 *
 * So `effect/rpc` keeps the protocol's default of one request in flight per
 * worker (like piscina's one task per worker) with `forEach` bounded at 32;
 * `effect/rpc/pipelined` also lets each worker hold `32 / workers` requests,
 * the counterpart of `raw/postMessage`. The pool hands out the
 * most recently released worker first, so a per-worker limit above
 * `32 / workers` would pile requests onto one worker; with real work per
 * task that serializes CPU work on one thread (DESIGN.md §4).
 */
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as RpcClient from "effect/rpc/RpcClient"
import type { RpcClientError } from "effect/rpc/RpcClientError"
import { Worker } from "node:worker_threads"
import { AddRpcs } from "./effect-rpc.group.ts"
import type { OverheadVariant } from "./variant.ts"

const script = new URL("./effect-rpc.worker.ts", import.meta.url)

type AddClient = RpcClient.FromGroup<typeof AddRpcs, RpcClientError>
const AddClient = Context.Service<AddClient>("bench/overhead/effect-rpc/AddClient")

export interface Config {
  readonly forEachConcurrency: number | "unbounded"
  /** Per-worker requests in flight for `workers` workers; `undefined` keeps the default (1). */
  readonly poolConcurrency: (workers: number) => number | undefined
  readonly description: string
}

export const makeVariant = (name: string, config: Config): OverheadVariant => ({
  name,
  config: config.description,
  setup: async (workers) => {
    const layer = Layer.effect(AddClient)(RpcClient.make(AddRpcs)).pipe(
      Layer.provide(RpcClient.layerProtocolWorker({ size: workers, concurrency: config.poolConcurrency(workers) })),
      Layer.provide(NodeWorker.layer(() => new Worker(script)))
    )
    const runtime = ManagedRuntime.make(layer)
    const client = await runtime.runPromise(AddClient)
    return {
      runBatch: (inputs) =>
        runtime.runPromise(Effect.forEach(inputs, (input) => client.Add(input), {
          concurrency: config.forEachConcurrency
        })),
      roundTrip: (input) => runtime.runPromise(client.Add(input)),
      close: () => runtime.dispose()
    }
  }
})

export const variants: ReadonlyArray<OverheadVariant> = [
  makeVariant("effect/rpc", {
    forEachConcurrency: 32,
    poolConcurrency: () => undefined,
    description: "layerProtocolWorker({ size: workers }) (1 request per worker), Effect.forEach concurrency 32"
  }),
  makeVariant("effect/rpc/pipelined", {
    forEachConcurrency: 32,
    poolConcurrency: (workers) => Math.ceil(32 / workers),
    description: "layerProtocolWorker({ size: workers, concurrency: ceil(32 / workers) }), Effect.forEach concurrency 32"
  })
]
