/**
 * `Cluster.layerPostgres` loads its two optional peers when built; where one is missing it dies
 * naming the `npm install` that brings that one (the README's promise for every optional peer).
 */
import { assert, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { vi } from "vitest"
import { Cluster } from "../../src/index.ts"

vi.mock("@effect/platform-node/NodeClusterSocket", () => {
  throw new Error("Cannot find package '@effect/platform-node'")
})

it.effect("a missing @effect/platform-node is named in the npm install to run", () =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(Cluster.layerPostgres({ url: "postgres://127.0.0.1:1/none" })).pipe(Effect.scoped))
    assert.isTrue(Exit.isFailure(exit))
    const message = String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause))
    assert.include(message, "npm install @effect/platform-node")
  }))
