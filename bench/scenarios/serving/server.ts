/**
 * One model server of the `serving` scenario, in its own process (forked by `../serving.ts`, the
 * load generator's process). `argv[2]` is a JSON `ServerInput`; the server tells its parent
 * `{ _tag: "Listening", url }`, serves until the parent sends `"stop"`, then answers
 * `{ _tag: "Stopped", batches, items, maxRSSKB }` and exits.
 *
 * Variants:
 * - `effect-parallel/batched`: `Serve.layer`, 2 replicas of the `serve` command's ONNX actor,
 *   `maxBatchSize` 32, `maxWait` 5 ms, `maxQueued` 128, `maxExpectedWait` 50 ms;
 * - `effect-parallel/unbatched`: the same with `maxBatchSize: 1`;
 * - `node-http/main-thread`: `node:http` and one onnxruntime session on the main thread, as a Node
 *   user writes it today (each `session.run` blocks the event loop);
 * - `piscina/per-request`: `node:http` and Piscina, one session per worker thread (2), one task
 *   per request.
 *
 * Bodies: `application/octet-stream` Float32 items, or JSON `{"inputs": [[…]]}`; answers in kind.
 *
 * Experiment switches (environment, effect-parallel variants): `SERVING_MAX_EXPECTED_WAIT` (a
 * duration such as `10 seconds`, the deadline: the bound off), `SERVING_NICE` (the pool's `nice`)
 * and `SERVING_BATCHES_PER_REPLICA` (`maxBatchesPerReplica`).
 * Every server also answers `{ _tag: "Diagnose" }` with `serving/diagnostics.ts`' record.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Piscina } from "piscina"
import { inspectModel, loadOnnxRuntime, OnnxModel, OnnxModels } from "../../../src/cli/onnxModel.ts"
import { Serve, WorkerPool } from "../../../src/index.ts"
import { startDiagnostics } from "./diagnostics.ts"

export interface ServerInput {
  readonly variant: string
  readonly modelPath: string
  readonly replicas: number
}

const input = JSON.parse(process.argv[2]!) as ServerInput
const shape = await inspectModel(input.modelPath)
const stopped = new Promise<void>((resolve) => process.on("message", (message) => message === "stop" && resolve()))
const send = (message: unknown) => process.send!(message)
const diagnostics = startDiagnostics()
process.on("message", (message: any) => {
  if (message?._tag === "Diagnose") send({ _tag: "Diagnostics", ...diagnostics.take() })
})

const finish = (batches: number, items: number) => {
  send({ _tag: "Stopped", batches, items, maxRSSKB: process.resourceUsage().maxRSS })
  process.disconnect()
}

// ---------------------------------------------------------------------------------------------
// effect-parallel
// ---------------------------------------------------------------------------------------------

const serveEffectParallel = (maxBatchSize: number) =>
  Effect.gen(function*() {
    const server = yield* Serve.Server
    send({ _tag: "Listening", url: server.url })
    yield* Effect.promise(() => stopped)
    return server.stats("model")!
  }).pipe(
    Effect.provide(
      Serve.layer([
        Serve.deployment("model", {
          actor: OnnxModel,
          method: "predictBatch",
          init: {
            modelPath: input.modelPath,
            intraOpThreads: 1,
            inputName: shape.inputName,
            outputName: shape.outputName,
            itemShape: [...shape.itemShape]
          },
          inputSize: shape.inputSize,
          replicas: input.replicas,
          batching: {
            maxBatchSize,
            maxWait: "5 millis",
            ...(process.env["SERVING_BATCHES_PER_REPLICA"]
              ? { maxBatchesPerReplica: Number(process.env["SERVING_BATCHES_PER_REPLICA"]) }
              : {})
          },
          // 4 full batches waiting: the overload row (512 connections) must reach the bound.
          maxQueued: 128,
          // Admission by expected wait: half the overload row's 100 ms latency budget, the rest is
          // the request's own batch and the HTTP around it.
          maxExpectedWait: (process.env["SERVING_MAX_EXPECTED_WAIT"] ?? "50 millis") as Duration.Input,
          timeout: "10 seconds"
        })
      ], { port: 0, drainTimeout: "5 seconds" }).pipe(
        Layer.provide(WorkerPool.layer(OnnxModels, {
          entry: new URL("../../../src/cli/onnxWorker.ts", import.meta.url),
          size: input.replicas,
          ...(process.env["SERVING_NICE"] ? { nice: Number(process.env["SERVING_NICE"]) } : {})
        }))
      )
    ),
    Effect.runPromise
  ).then((stats) => finish(stats.batches, stats.items))

// ---------------------------------------------------------------------------------------------
// node:http servers
// ---------------------------------------------------------------------------------------------

/** Reads a request's items: `rows × inputSize` floats. */
const readItems = async (request: IncomingMessage): Promise<{ rows: number; data: Float32Array; binary: boolean }> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  if ((request.headers["content-type"] ?? "").startsWith("application/octet-stream")) {
    const data = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength))
    return { rows: data.length / shape.inputSize, data, binary: true }
  }
  const { inputs } = JSON.parse(body.toString("utf8")) as { inputs: Array<Array<number>> }
  return { rows: inputs.length, data: Float32Array.from(inputs.flat()), binary: false }
}

const reply = (response: ServerResponse, output: Float32Array, rows: number, binary: boolean) => {
  if (binary) {
    response.writeHead(200, { "content-type": "application/octet-stream" })
    response.end(Buffer.from(output.buffer, output.byteOffset, output.byteLength))
    return
  }
  const width = output.length / rows
  const outputs = Array.from({ length: rows }, (_, row) => Array.from(output.subarray(row * width, (row + 1) * width)))
  response.writeHead(200, { "content-type": "application/json" })
  response.end(JSON.stringify({ outputs }))
}

const serveNode = async (predict: (data: Float32Array, rows: number) => Promise<Float32Array>, close: () => Promise<void>) => {
  let requests = 0
  let inFlight = 0
  const server = createServer((request, response) => {
    inFlight++
    readItems(request).then(async ({ binary, data, rows }) => {
      requests += rows
      reply(response, await predict(data, rows), rows, binary)
    }).catch((error) => {
      if (!response.headersSent) response.writeHead(500)
      response.end(String(error))
    }).finally(() => inFlight--)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address() as { port: number }
  send({ _tag: "Listening", url: `http://127.0.0.1:${address.port}` })
  await stopped
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  // A model must not be released (or its thread ended) under a run: onnxruntime aborts the process.
  while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10))
  await close()
  finish(requests, requests)
}

const mainThread = async () => {
  const ort = await loadOnnxRuntime()
  const session = await ort.InferenceSession.create(input.modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all"
  })
  await serveNode(async (data, rows) => {
    const outputs = await session.run({ [shape.inputName]: new ort.Tensor("float32", data, [rows, ...shape.itemShape]) })
    return outputs[shape.outputName]!.data as Float32Array
  }, () => session.release())
}

const piscina = async () => {
  const pool = new Piscina({
    filename: new URL("./piscina.worker.ts", import.meta.url).href,
    minThreads: input.replicas,
    maxThreads: input.replicas,
    workerData: { modelPath: input.modelPath, inputName: shape.inputName, outputName: shape.outputName, itemShape: shape.itemShape },
    execArgv: process.execArgv
  })
  await serveNode(
    (data, rows) => pool.run({ data, rows }, { transferList: [data.buffer as ArrayBuffer] }) as Promise<Float32Array>,
    () => pool.close()
  )
}

switch (input.variant) {
  case "effect-parallel/batched":
    await serveEffectParallel(32)
    break
  case "effect-parallel/unbatched":
    await serveEffectParallel(1)
    break
  case "node-http/main-thread":
    await mainThread()
    break
  case "piscina/per-request":
    await piscina()
    break
  default:
    throw new Error(`unknown serving variant ${input.variant}`)
}
