/**
 * One copy of `effect`: definitions made with another copy, or a worker entry that resolves one,
 * fail a pool at construction with `DuplicateEffect` naming both paths — in the caller before any
 * worker starts, and in a thread that loads such an entry — while definitions made with the
 * library's own copy, of every Schema shape, pass.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll } from "vitest"
import { Actor, InlineBackend, PoolError, SharedArray, Task, Worker, WorkerPool } from "../../../src/index.ts"
import { duplicateEffect } from "../../../src/runtime/internal/effectCopy.ts"
import { ActorTasks } from "../../fixtures/actors.ts"
import { SharedTasks } from "../../fixtures/shared-tasks.ts"
import { ContractTasks } from "../../fixtures/tasks.ts"
import { poolReasonOf } from "../../support/backends.ts"
import { copyEffect, repoEffect } from "../../support/effectCopy.ts"

// root/app/node_modules/effect: a second copy, found by modules in root/app.
// root/bare: modules that resolve no effect at all (nothing above os.tmpdir() has node_modules).
const root = mkdtempSync(join(tmpdir(), "ep-effect-copy-"))
const otherEffect = copyEffect(join(root, "app", "node_modules", "effect"))
mkdirSync(join(root, "bare"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const Other: typeof Schema = await import(pathToFileURL(join(otherEffect, "dist", "Schema.js")).href)
const appEntry = pathToFileURL(join(root, "app", "worker.mjs")).href
const repoEntry = new URL("../../fixtures/worker.ts", import.meta.url).href

class Shape extends Schema.Class<Shape>("Shape")({ sides: Schema.Int, name: Schema.optional(Schema.String) }) {}
class Broken extends Schema.TaggedError<Broken>()("Broken", { at: Schema.Int }) {}
interface Tree {
  readonly value: number
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Codec<Tree> = Schema.Struct({
  value: Schema.Number,
  children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
})

/** A task for each kind of Schema node: objects, arrays, tuples, unions, classes, checks, transformations, recursion. */
const Everything = Task.group(
  Task.make("Shapes", {
    payload: {
      shape: Shape,
      many: Schema.Array(Schema.Int.check(Schema.isGreaterThan(0))),
      pair: Schema.Tuple([Schema.String, Schema.BigInt]),
      either: Schema.Union([Schema.Literal("a"), Schema.Number, Schema.Null]),
      record: Schema.Record(Schema.String, Schema.Boolean),
      parsed: Schema.NumberFromString,
      when: Schema.Date,
      maybe: Schema.Option(Schema.String),
      tree: Tree
    },
    success: Schema.Struct({ ok: Schema.Boolean, id: Schema.String.check(Schema.isMinLength(1)) }),
    error: Broken
  }),
  Task.make("Arrays", {
    payload: { image: SharedArray.Float64Matrix, flags: SharedArray.Int32 },
    success: SharedArray.Float64
  }),
  Actor.make("Holder", { init: { start: Schema.Int }, methods: { get: { payload: Schema.Struct({}), success: Schema.Int } } })
)

const poolOn = (group: Task.Group<Task.Any, unknown>, entry: URL | string | Worker.WorkerEntry) =>
  Effect.scoped(Layer.build(WorkerPool.layer(group as Task.Group<Task.Any, never>, { entry, size: 1 })))

describe("one copy of effect", () => {
  it("finds nothing in definitions made with effect-parallel's own copy", () => {
    for (const group of [Everything, ContractTasks, SharedTasks, ActorTasks]) {
      assert.isUndefined(duplicateEffect(group as Task.Group<Task.Any, unknown>, repoEntry))
    }
    // An entry that is no file resolves no package: nothing to compare, nothing thrown.
    assert.isUndefined(duplicateEffect(Everything as Task.Group<Task.Any, unknown>, "data:text/javascript,export default 1"))
  })

  it("names a Schema made with another copy, and the copy the entry module resolves", () => {
    const Foreign = Task.make("Foreign", { payload: { from: Other.Int, to: Other.Int }, success: Schema.Int })
    const found = duplicateEffect(Task.group(Foreign), appEntry)
    assert.instanceOf(found, PoolError.DuplicateEffect)
    assert.strictEqual(found!.libraryPath, repoEffect)
    assert.strictEqual(found!.definitionsPath, otherEffect)
    assert.include(found!.message, "The payload Schema of Foreign")
    // Deep inside a union, an array, an actor's method: found all the same.
    const Deep = Actor.make("Deep", {
      init: Schema.Struct({}),
      methods: { put: { payload: { xs: Schema.Array(Schema.Union([Schema.String, Other.Struct({ n: Other.Number })])) } } }
    })
    assert.include(duplicateEffect(Task.group(Deep), undefined)?.message, "The payload Schema of Deep.put (its Objects node)")
    assert.isUndefined(duplicateEffect(Task.group(Deep), undefined)?.definitionsPath)
  })

  it("names a worker entry that resolves another copy, even with the library's definitions", () => {
    const found = duplicateEffect(Everything as Task.Group<Task.Any, unknown>, appEntry)
    assert.strictEqual(found?.libraryPath, repoEffect)
    assert.strictEqual(found?.definitionsPath, otherEffect)
    assert.include(found?.message, "The worker entry")
  })

  it.effect("fails the pool at construction, before any worker starts", () =>
    Effect.gen(function*() {
      const Foreign = Task.make("Foreign", { payload: { from: Other.Int }, success: Schema.Int })
      const group = Task.group(Foreign)
      const entry = Worker.serve(group, { Foreign: ({ from }) => Effect.succeed(from) })
      const error = yield* Effect.flip(poolOn(group, entry).pipe(Effect.provide(InlineBackend.layer)))
      const reason = poolReasonOf(error)
      assert.instanceOf(reason, PoolError.DuplicateEffect)
      assert.strictEqual((reason as PoolError.DuplicateEffect).libraryPath, repoEffect)
      assert.strictEqual(WorkerPool.liveThreads(), 0)
    }))

  it.live("fails the pool when a thread's entry was made with another copy", () =>
    Effect.gen(function*() {
      // The caller's definitions are the library's; the entry's are another copy's, and the entry
      // resolves no effect of its own: only the thread, which loads it, can tell.
      const entry = join(root, "bare", "worker.mjs")
      writeFileSync(
        entry,
        [
          `import * as Effect from ${JSON.stringify(pathToFileURL(join(repoEffect, "dist", "Effect.js")).href)}`,
          `import * as Schema from ${JSON.stringify(pathToFileURL(join(otherEffect, "dist", "Schema.js")).href)}`,
          `import { Task, Worker } from ${JSON.stringify(new URL("../../../src/worker.ts", import.meta.url).href)}`,
          `const Echo = Task.make("Echo", { payload: { n: Schema.Int }, success: Schema.Int })`,
          `export default Worker.serve(Task.group(Echo), { Echo: ({ n }) => Effect.succeed(n) })`
        ].join("\n")
      )
      const group = Task.group(Task.make("Echo", { payload: { n: Schema.Int }, success: Schema.Int }))
      assert.isUndefined(duplicateEffect(group, pathToFileURL(entry).href), "the caller sees nothing wrong")
      const error = yield* Effect.flip(poolOn(group, entry))
      const reason = poolReasonOf(error)
      assert.instanceOf(reason, PoolError.DuplicateEffect)
      assert.strictEqual((reason as PoolError.DuplicateEffect).libraryPath, repoEffect)
      assert.include(reason.message, "found by worker")
      assert.include(reason.message, "The payload Schema of Echo")
    }))
})
