/**
 * Serving: an MNIST classifier behind an HTTP server with dynamic batching. Two replicas load the
 * model once each; 64 concurrent requests are answered (the batches they formed are counted); a
 * malformed body gets a 400 naming the field; `/readyz` and `/metrics` answer; closing the server
 * drains it and releases both models.
 *
 * Run with `npm run example -- serving`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Serve, WorkerPool } from "effect-parallel"
import { defaultMlpModelPath, ensureMlpModel, makeImages } from "../../src/workloads/mlp.ts"
import { Mnist, MnistModels } from "./model.ts"

const mnist = Serve.deployment("mnist", {
  actor: Mnist,
  method: "predictBatch",
  init: { modelPath: ensureMlpModel(defaultMlpModelPath) },
  inputSize: 784,
  replicas: 2,
  batching: { maxBatchSize: 32, maxWait: "5 millis" },
  maxQueued: 512,
  timeout: "10 seconds"
})

const Server = Serve.layer([mnist], { port: 0 }).pipe(
  Layer.provide(WorkerPool.layer(MnistModels, { entry: new URL("./worker.ts", import.meta.url), size: 2 }))
)

const post = (url: string, body: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/models/mnist/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body
    })
    return { status: response.status, body: (await response.json()) as any }
  })

const program = Effect.gen(function*() {
  const { stats, url } = yield* Serve.Server
  // Readiness turns 200 once both replicas have loaded the model.
  while ((yield* Effect.promise(() => fetch(`${url}/readyz`))).status !== 200) yield* Effect.sleep("50 millis")
  console.log(`listening on ${url} (ready)`)

  const images = makeImages(64)
  const replies = yield* Effect.forEach(
    Array.from({ length: 64 }, (_, i) => Array.from(images.subarray(i * 784, (i + 1) * 784))),
    (image) => post(url, JSON.stringify({ input: image })),
    { concurrency: "unbounded" }
  )
  const classes = replies.map(({ body }) => {
    const probabilities = body.outputs[0] as Array<number>
    return probabilities.indexOf(Math.max(...probabilities))
  })
  const counters = stats("mnist")!
  console.log(`64 requests: ${replies.filter((r) => r.status === 200).length} answered 200`)
  console.log(`predicted classes: ${classes.join(" ")}`)
  // This model answers in ~64 µs, faster than the server parses a request: replicas are mostly
  // idle, so requests go at once and batches stay small. A model that takes milliseconds keeps
  // the replicas busy and the batches grow (`npm run bench -- serving`).
  console.log(`batches: ${counters.batches}, mean batch ${(counters.items / counters.batches).toFixed(1)} items (max 32)`)

  const bad = yield* post(url, JSON.stringify({ inputs: [[1, 2, 3]] }))
  console.log(`malformed body: ${bad.status} ${bad.body.error}`)
  const metrics = yield* Effect.promise(() => fetch(`${url}/metrics`).then((r) => r.text()))
  console.log(metrics.split("\n").filter((line) => line.startsWith("effect_parallel_serve_requests_total")).join("\n"))
  console.log("closing: draining, then releasing the models")
})

program.pipe(Effect.provide(Server), Effect.runPromise).then(
  () => console.log(`\nworkers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
