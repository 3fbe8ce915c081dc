/**
 * `effect-parallel serve ./model.onnx --replicas 2 --max-batch 32 --max-wait 5ms --port 8080`:
 * any ONNX model of one float32 input `[batch, …]` behind a batching HTTP server (`Serve.layer`),
 * one onnxruntime session per replica, each on its own worker thread. SIGINT / SIGTERM drain it:
 * every accepted request is answered before the models are released.
 *
 * onnxruntime-node is an optional peer: it is imported when the command runs, and its absence is
 * reported with the package to install.
 */
import { Cause, Console, Effect, Layer } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { basename, extname, isAbsolute, relative, resolve } from "node:path"
import { Serve, ServeError, WorkerPool } from "../index.ts"
import { ArgumentError, usageExitCode } from "./ArgumentError.ts"
import { inspectModel, OnnxModel, OnnxModels } from "./onnxModel.ts"

/** `5ms`, `0.5s`, `250us`, `2m`, or a bare number of milliseconds, as milliseconds. */
export const parseDuration = (text: string): number | undefined => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)?\s*$/.exec(text)
  if (match === null) return undefined
  const value = Number(match[1])
  const unit = match[2] ?? "ms"
  return unit === "us" || unit === "µs" ? value / 1000 : unit === "ms" ? value : unit === "s" ? value * 1000 : value * 60_000
}

// Effect's help shows no default: each description says its own.

const duration = (name: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDefault(fallback),
    Flag.withMetavar("duration"),
    Flag.withDescription(`${description} (default ${fallback})`),
    Flag.mapTryCatch(
      (text) => toMillis(name, text),
      (error) => (error as Error).message
    )
  )

const toMillis = (name: string, text: string): number => {
  const millis = parseDuration(text)
  if (millis === undefined) throw new Error(`--${name}: ${JSON.stringify(text)} is not a duration (5ms, 2s, 250us)`)
  return millis
}

/** A duration flag whose default is another flag's value ("" here). */
const durationOr = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDefault(""),
    Flag.withMetavar("duration"),
    Flag.withDescription(description),
    Flag.mapTryCatch(
      (text): number | undefined => text === "" ? undefined : toMillis(name, text),
      (error) => (error as Error).message
    )
  )

/**
 * The deployment name of a model file when there is no `--name`: its name without the extension,
 * each character other than a letter, a digit, `.`, `_` or `-` made a `-`, and what comes before
 * the first letter or digit dropped (a name starts with one: `_model.onnx` is `model`); `model`
 * when nothing is left.
 */
export const deploymentName = (modelPath: string): string =>
  basename(modelPath, extname(modelPath)).replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[._-]+/, "") || "model"

const entry = new URL(import.meta.url.endsWith(".ts") ? "./onnxWorker.ts" : "./onnxWorker.js", import.meta.url)

export const serve = Command.make("serve", {
  model: Argument.File("model", { mustExist: true }).pipe(Argument.withDescription("The .onnx file to serve")),
  name: Flag.String("name").pipe(
    Flag.optional,
    Flag.withDescription("Deployment name in the URL (default: the file name without .onnx, made a URL segment: _my model.onnx is my-model)")
  ),
  replicas: Flag.Int("replicas").pipe(Flag.withDefault(2), Flag.withDescription("Model replicas, one worker thread each (default 2)")),
  maxBatch: Flag.Int("max-batch").pipe(Flag.withDefault(32), Flag.withDescription("Most items in one batch, and in one request (default 32)")),
  maxWait: duration(
    "max-wait",
    "5ms",
    "How long a batch collects requests while every replica is busy; durations: 5ms, 2s, 250us, 1m, a bare number is ms"
  ),
  maxQueued: Flag.Int("max-queued").pipe(Flag.withDefault(512), Flag.withDescription("Waiting requests before 503 (default 512)")),
  timeout: duration("timeout", "30s", "A request's deadline (504 past it)"),
  maxExpectedWait: durationOr(
    "max-expected-wait",
    "Refuse (503) a request that the work ahead would keep waiting longer than this (default: --timeout)"
  ),
  drainTimeout: duration("drain-timeout", "30s", "How long a stop (SIGTERM, Ctrl-C) waits for accepted requests"),
  port: Flag.Int("port").pipe(Flag.withDefault(8080), Flag.withDescription("Port (default 8080; 0 picks a free one)")),
  host: Flag.String("host").pipe(Flag.withDefault("127.0.0.1"), Flag.withDescription("Address to listen on (default 127.0.0.1)"))
}, (options) =>
  Effect.gen(function*() {
    // Checked before the model is loaded: Serve.layer would say so only at listen, as a ListenFailed
    // (exit 1, a failure to start) rather than the wrong argument it is.
    if (!(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535)) {
      return yield* Effect.fail(new ArgumentError(`--port: must be a port number from 0 to 65535 (0 picks a free one), got ${options.port}`))
    }
    const modelPath = resolve(options.model)
    const shape = yield* Effect.tryPromise({ try: () => inspectModel(modelPath, options.maxBatch), catch: (error) => error as Error })
    const name = options.name._tag === "Some" ? options.name.value : deploymentName(modelPath)
    const deployment = Serve.deployment(name, {
      actor: OnnxModel,
      method: "predictBatch",
      init: {
        modelPath,
        intraOpThreads: 1,
        inputName: shape.inputName,
        outputName: shape.outputName,
        itemShape: [...shape.itemShape]
      },
      inputSize: shape.inputSize,
      replicas: options.replicas,
      batching: { maxBatchSize: options.maxBatch, maxWait: options.maxWait },
      maxQueued: options.maxQueued,
      maxExpectedWait: options.maxExpectedWait ?? options.timeout,
      timeout: options.timeout
    })
    const server = Serve.layer([deployment], {
      port: options.port,
      host: options.host,
      drainTimeout: options.drainTimeout
    }).pipe(
      Layer.provide(WorkerPool.layer(OnnxModels, { entry, size: Math.max(1, options.replicas) }))
    )
    let started = false
    yield* Effect.gen(function*() {
      const { url } = yield* Serve.Server
      started = true
      yield* Console.log([
        `serving ${shown(modelPath)}`,
        `  model   ${name}: ${shape.inputName} [batch, ${shape.itemShape.join(", ")}] -> ${shape.outputName} [${
          shape.outputShape.join(", ")
        }]`,
        `  batches ${options.replicas} ${options.replicas === 1 ? "replica" : "replicas"}, up to ${options.maxBatch} items, max wait ${options.maxWait} ms, queue ${options.maxQueued}${
          options.maxExpectedWait === undefined ? "" : ` or ${options.maxExpectedWait} ms of work ahead`
        }, deadline ${options.timeout} ms`,
        `  listening on ${url}`,
        `  POST ${url}/v1/models/${name}/predict  {"inputs": [[${shape.inputSize} numbers], ...]} or float32 bytes`,
        `  GET  ${url}/readyz  /healthz  /metrics  /openapi.json  /docs`
      ].join("\n"))
      yield* Effect.addFinalizer(() =>
        Console.log("draining: answering accepted requests, then releasing the models (a second Ctrl-C stops now)")
      )
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(server),
      Effect.ensuring(Effect.suspend(() => started ? Console.log("stopped") : Effect.void))
    )
  }).pipe(Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.andThen(
        Console.error(message(Cause.squash(cause))),
        Effect.sync(() => void (process.exitCode = isFlagRefused(Cause.squash(cause)) ? usageExitCode : 1))
      )
  ))
).pipe(Command.withDescription("Serve an ONNX model over HTTP with dynamic batching (needs onnxruntime-node)"))

/** A path as the user would write it from here: relative when it is under the working directory. */
const shown = (path: string): string => {
  const fromHere = relative(process.cwd(), path)
  return fromHere.startsWith("..") || isAbsolute(fromHere) ? path : `./${fromHere}`
}

/** The flag behind each deployment option `Serve.layer` may reject (`inputSize` comes from the model). */
const flagOf: Record<string, string> = {
  name: "--name",
  replicas: "--replicas",
  "batching.maxBatchSize": "--max-batch",
  "batching.maxWait": "--max-wait",
  maxQueued: "--max-queued",
  maxExpectedWait: "--max-expected-wait",
  timeout: "--timeout"
}

/** A flag's value `Serve.layer` refused: a usage error (exit 2), as a flag that does not parse. */
const isFlagRefused = (error: unknown): boolean =>
  error instanceof ArgumentError || (error instanceof ServeError.ServeError && error.reason._tag === "InvalidDeployment")

const message = (error: unknown): string => {
  // The option's path alone would leave the user guessing which flag "must be a positive integer".
  if (error instanceof ServeError.ServeError && error.reason._tag === "InvalidDeployment") {
    const path = error.reason.path.join(".")
    return `${flagOf[path] ?? path}: ${error.reason.message}`
  }
  return error instanceof Error ? error.message : String(error)
}
