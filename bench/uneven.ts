/**
 * Maps whose tasks cost unequal amounts, on our pool (`Task.map`, default chunking) against a
 * hand-written `worker_threads` pool that sends each worker one task at a time (what piscina and
 * most hand-written pools do: perfectly balanced, a round trip a task). Same workers count, same
 * kernel (CPU iterations, calibrated to the total), rounds alternated in one process; prints
 * each shape's seconds and the median ratio raw / ours (above 1: ours faster).
 *
 *   node --conditions=effect-parallel-source bench/uneven.ts [shapes] [tasks] [total ms] [rounds]
 *
 * `BACKEND=processes`: our pool on child processes, against hand-written `child_process.fork`
 * workers (advanced serialization, one task a message). `API=stream`: ours runs the inputs
 * through a `Task.stream` stage (default chunks of 64, 4 in flight) instead of a `Task.map`;
 * `API=pipeline`: through a `Pipeline.task` stage (default batches of 64, 4 in flight).
 *
 * Shapes (comma-separated, default all): `uniform` (equal), `linear` (cost grows with the index),
 * `front` (the first 10% cost 10x: 53% of the work), `back` (the last 10% do), `exp` (random,
 * exponential, seeded). Defaults: 1,000 tasks, 1,000 ms of work on one core, 5 rounds.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcess, fork } from "node:child_process"
import { Worker as NodeWorker } from "node:worker_threads"
import { Pipeline, ProcessBackend, Task, WorkerPool } from "../src/index.ts"
import { work } from "./scenarios/uneven/kernel.ts"
import { UnevenTasks, Work } from "./scenarios/uneven/tasks.ts"

const shapes = (process.argv[2] ?? "uniform,linear,front,back,exp").split(",")
const count = Number(process.argv[3] ?? 1000)
const totalMillis = Number(process.argv[4] ?? 1000)
const rounds = Number(process.argv[5] ?? 5)
const size = 2
const processes = process.env.BACKEND === "processes"
const api = process.env.API ?? "map"
if (!["map", "stream", "pipeline"].includes(api)) throw new Error(`unknown API ${api}: map|stream|pipeline`)
const apiName = api === "stream" ? "Task.stream" : api === "pipeline" ? "Pipeline.task" : "Task.map"

let seed = 7
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
const weightsOf = (shape: string): Array<number> => {
  switch (shape) {
    case "uniform":
      return Array.from({ length: count }, () => 1)
    case "linear":
      return Array.from({ length: count }, (_, i) => i + 1)
    case "front":
      return Array.from({ length: count }, (_, i) => i < count / 10 ? 10 : 1)
    case "back":
      return Array.from({ length: count }, (_, i) => i >= count * 0.9 ? 10 : 1)
    case "exp":
      return Array.from({ length: count }, () => -Math.log(1 - random()))
    default:
      throw new Error(`unknown shape ${shape}`)
  }
}

// Iterations a millisecond, on this thread, warm.
work(2_000_000)
const probe = performance.now()
work(5_000_000)
const perMillis = 5_000_000 / (performance.now() - probe)

const inputsOf = (shape: string) => {
  const weights = weightsOf(shape)
  const sum = weights.reduce((a, b) => a + b, 0)
  return weights.map((w) => ({ iterations: Math.max(1, Math.round((w / sum) * totalMillis * perMillis)) }))
}

// The hand-written pool: a worker gets its next task when it answers one.
interface RawWorker {
  readonly post: (task: { readonly id: number; readonly iterations: number }) => void
  readonly stop: () => Promise<unknown>
}
let onAnswer: (worker: RawWorker) => void = () => {}
const rawWorkers: Array<RawWorker> = await Promise.all(Array.from({ length: size }, () => {
  if (processes) {
    const child: ChildProcess = fork(new URL("./scenarios/uneven/raw.child.ts", import.meta.url), [], {
      serialization: "advanced",
      execArgv: process.execArgv
    })
    const worker: RawWorker = {
      post: (task) => child.send(task),
      stop: () => new Promise((resolve) => child.once("exit", resolve).kill())
    }
    return new Promise<RawWorker>((resolve) =>
      child.once("message", () => {
        child.on("message", () => onAnswer(worker))
        resolve(worker)
      }))
  }
  const thread = new NodeWorker(new URL("./scenarios/uneven/raw.worker.ts", import.meta.url))
  const worker: RawWorker = { post: (task) => thread.postMessage(task), stop: () => thread.terminate() }
  return new Promise<RawWorker>((resolve) =>
    thread.once("message", () => {
      thread.on("message", () => onAnswer(worker))
      resolve(worker)
    }))
}))
const raw = (inputs: ReadonlyArray<{ readonly iterations: number }>) =>
  new Promise<number>((resolve) => {
    let next = 0
    let done = 0
    const start = performance.now()
    const feed = (worker: RawWorker) => {
      if (next < inputs.length) {
        const id = next++
        worker.post({ id, iterations: inputs[id]!.iterations })
      }
    }
    onAnswer = (worker) => {
      if (++done === inputs.length) resolve((performance.now() - start) / 1000)
      else feed(worker)
    }
    for (const worker of rawWorkers) feed(worker)
  })

const scope = Scope.makeUnsafe()
const context = await Effect.runPromise(
  Layer.buildWithScope(
    WorkerPool.layer(UnevenTasks, { entry: new URL("./scenarios/uneven/worker.ts", import.meta.url), size }).pipe(
      (layer) => processes ? Layer.provide(layer, ProcessBackend.layer) : layer
    ),
    scope
  )
)
const run = Effect.runPromiseWith(context)
const ours = async (inputs: ReadonlyArray<{ readonly iterations: number }>) => {
  const start = performance.now()
  await run(
    api === "stream"
      ? Stream.runDrain(Task.stream(Stream.fromIterable(inputs), Work))
      : api === "pipeline"
      ? Stream.runDrain(Stream.fromIterable(inputs).pipe(Pipeline.task(Work)))
      : Task.map(Work, inputs)
  )
  return (performance.now() - start) / 1000
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(
  `uneven: ${count} tasks, ${totalMillis} ms of work on one core, ${size} ${processes ? "processes" : "threads"}, ${apiName}, ${rounds} rounds alternated`
)
for (const shape of shapes) {
  const inputs = inputsOf(shape)
  await raw(inputs)
  await ours(inputs)
  const rawSeconds: Array<number> = []
  const ourSeconds: Array<number> = []
  const ratios: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const first = round % 2 === 0
    const a = first ? await raw(inputs) : 0
    const b = await ours(inputs)
    const r = first ? a : await raw(inputs)
    rawSeconds.push(r)
    ourSeconds.push(b)
    ratios.push(r / b)
  }
  console.log(
    `${shape.padEnd(8)} raw ${median(rawSeconds).toFixed(3)} s  ours ${median(ourSeconds).toFixed(3)} s  ` +
      `raw/ours ${median(ratios).toFixed(2)}x  (${ratios.map((x) => x.toFixed(2)).join(" ")})`
  )
}
for (const worker of rawWorkers) await worker.stop()
await Effect.runPromise(Scope.close(scope, Exit.void))
