/**
 * The `RpcGroup` shared by the `effect/rpc` client and its worker: one `Add` rpc.
 *
 * Individual modules are imported instead of `"effect"`: the barrel costs about
 * half a second per worker start (DESIGN.md §4).
 */
import * as Schema from "effect/Schema"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"

export const AddRpcs = RpcGroup.make(
  Rpc.make("Add", {
    payload: { a: Schema.Number, b: Schema.Number },
    success: Schema.Number
  })
)
