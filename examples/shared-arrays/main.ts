/**
 * Shared arrays: an image in shared memory, read in place by worker threads.
 *
 * A 2000×2000 image in shared memory is convolved with 8 filters by worker threads that read it in
 * place and return their responses in shared memory; the responses then go on,
 * by reference, to a task that combines them. Three rounds, each with a fresh image freed by its
 * scope, show the arena handing the same memory back out (`allocated` stays 1). Last,
 * `SharedArray.put` (copy once, pass to every task, like `ray.put`) is timed against sending a
 * plain array that `postMessage` copies into every task.
 *
 * Run with `npm run example -- shared-arrays`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SharedArray, Task, WorkerPool } from "effect-parallel"
import { Convolve, ConvolveCopied, convolve, ImageTasks, type Matrix, MaxAbs, maxAbs, type ReadonlyMatrix } from "./tasks.ts"

const makeMatrix = (rows: number, cols: number): Matrix => ({ rows, cols, data: new Float64Array(rows * cols) })

/**
 * A `rows × cols` image of numbers uniform in [-1, 1), the same for the same seed (mulberry32), in
 * `data` when given (shared memory, filled in place).
 */
const randomImage = (
  rows: number,
  cols: number,
  seed: number,
  data: Float64Array<ArrayBufferLike> = new Float64Array(rows * cols)
): Matrix => {
  let state = seed >>> 0
  for (let i = 0; i < data.length; i++) {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1
  }
  return { rows, cols, data }
}
const randomFilter = (size: number, seed: number): Matrix => randomImage(size, size, seed)

/** Same shape, same numbers: every kernel here sums in the same order, so parallel and serial agree exactly. */
const matricesEqual = (a: ReadonlyMatrix, b: ReadonlyMatrix): boolean =>
  a.rows === b.rows && a.cols === b.cols && a.data.every((value, i) => value === b.data[i])

const size = 2_000
const rounds = 3
const filters = Array.from({ length: 8 }, (_, i) => randomFilter(4, 100 + i))
const imageMB = ((size * size * Float64Array.BYTES_PER_ELEMENT) / 2 ** 20).toFixed(1)
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

// An arena of our own, so its counts are this program's; the pool's workers see its memory.
const ImagePool = Layer.merge(
  WorkerPool.layer(ImageTasks, { entry: new URL("./worker.ts", import.meta.url), size: 2 }),
  SharedArray.layerArena()
)

const time = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, millis: performance.now() - start }
  })

/** The serial answer, computed in this thread on the same memory. */
const serialFeatures = (image: SharedArray.ReadonlySharedMatrix<"Float64">) =>
  maxAbs(filters.map((filter) => convolve(image, filter, makeMatrix)), makeMatrix)

/** One round: a fresh image, owned by the round's scope and released to the arena when it ends. */
const round = (seed: number) =>
  Effect.scoped(Effect.gen(function*() {
    // Uninitialized: it is overwritten in full right away, so there is nothing to zero.
    const image = yield* SharedArray.makeMatrixUninitialized("Float64", size, size)
    randomImage(size, size, seed, image.data) // filled in place: no copy anywhere
    const { millis, value: features } = yield* time(Effect.gen(function*() {
      // Eight tasks, one image: each payload carries a handle to the same memory.
      const responses = yield* Task.map(Convolve, filters.map((filter) => ({ image, filter })))
      // Results made in the workers go back in by reference: no bytes cross either way.
      return yield* Task.run(MaxAbs, { responses })
    }))
    return { millis, features, agree: matricesEqual(features, serialFeatures(image)) }
  }))

const program = Effect.gen(function*() {
  console.log(
    [
      "An image in shared memory goes to every task as a handle: the workers read the same bytes in place,",
      "and nothing is copied. Three rounds with a fresh image each, then the same tasks with a plain array,",
      "which postMessage copies into every task, for comparison.",
      "",
      `image ${size}×${size} Float64 (${imageMB} MB), ${filters.length} filters 4×4, stride 5, on 2 worker threads\n`
    ].join("\n")
  )

  let agree = true
  const roundRows = []
  for (let r = 1; r <= rounds; r++) {
    const { agree: ok, features, millis } = yield* round(r)
    agree &&= ok
    // The features outlive the round: worker-made results are not arena memory.
    const checksum = features.data.reduce((a, b) => a + b, 0)
    const stats = yield* SharedArray.arenaStats
    roundRows.push({
      round: r,
      "8 × Convolve + MaxAbs ms": millis.toFixed(0),
      "features checksum": checksum.toFixed(3),
      "= serial": ok,
      "arena allocated": stats.allocated,
      reused: stats.reused,
      "live MB": mb(stats.liveBytes),
      "idle MB": mb(stats.idleBytes)
    })
  }
  console.log("Rounds: a fresh image each, freed when its round's scope closes")
  console.table(roundRows)

  // An ordinary Float64Array, as if decoded from a file: share it once, or copy it per task.
  const plain = randomImage(size, size, 7)
  const viaPut = Effect.scoped(Effect.gen(function*() {
    const image = yield* SharedArray.put("Float64", plain) // one copy, into (reused) arena memory
    return yield* Task.map(Convolve, filters.map((filter) => ({ image, filter })))
  }))
  const viaCopy = Task.map(ConvolveCopied, filters.map((filter) => ({ image: plain, filter })))

  let shared = yield* time(viaPut)
  let copied = yield* time(viaCopy)
  for (let i = 0; i < 2; i++) {
    const s = yield* time(viaPut)
    const c = yield* time(viaCopy)
    if (s.millis < shared.millis) shared = s
    if (c.millis < copied.millis) copied = c
  }
  agree &&= shared.value.every((response, i) => matricesEqual(response, copied.value[i]!))

  console.log(`SharedArray.put vs a plain array, ${filters.length} tasks on one image (best of 3)`)
  console.table([
    { how: "SharedArray.put once, tasks share it", "image bytes copied": `${imageMB} MB`, ms: shared.millis.toFixed(0) },
    {
      how: "plain Float64Array, copied per task",
      "image bytes copied": `${filters.length} × ${imageMB} MB`,
      ms: copied.millis.toFixed(0)
    }
  ])
  console.log(`copied / shared time: ${(copied.millis / shared.millis).toFixed(1)}x`)

  const stats = yield* SharedArray.arenaStats
  console.log(
    `arena after ${rounds} rounds and 3 puts: allocated ${stats.allocated}, reused ${stats.reused}, live ${stats.liveBlocks}`
  )
  console.log(`results agree (parallel = serial, shared = copied): ${agree}`)
})

program.pipe(Effect.provide(ImagePool), Effect.runPromise).then(
  () => console.log(`workers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
