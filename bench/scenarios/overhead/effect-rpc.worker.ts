/**
 * `effect/rpc` server side: `RpcServer` over the worker-runner protocol,
 * launched as the worker's main effect.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RpcServer from "effect/rpc/RpcServer"
import { AddRpcs } from "./effect-rpc.group.ts"

const Handlers = AddRpcs.toLayer({
  Add: ({ a, b }) => Effect.succeed(a + b)
})

const Main = RpcServer.layer(AddRpcs).pipe(
  Layer.provide(Handlers),
  Layer.provide(RpcServer.layerProtocolWorkerRunner),
  Layer.provide(NodeWorkerRunner.layer)
)

NodeRuntime.runMain(Layer.launch(Main))
