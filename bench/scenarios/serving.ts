/**
 * Model serving over HTTP: dynamic batching against per-request inference, at fixed rates and at saturation.
 *
 * Each variant's server runs in its own process (`serving/server.ts`); the load comes from this
 * process with autocannon (programmatic), on loopback, one item per request. At a fixed rate
 * (`overallRate`, open loop) autocannon corrects latencies for coordinated omission; at
 * `saturation` 64 connections send back to back. Models, generated like
 * `scripts/make-mlp-model.ts`:
 * - `wide`: MLP 2048 -> 8192 -> 10 (~4 ms per item at batch 1, ~0.4 ms per item at batch 32 here),
 *   Float32 `application/octet-stream` bodies: the model is the cost;
 * - `mnist`: the repo's MLP 784 -> 512 -> 10 (64 µs per item) over JSON bodies: on 2 cores this
 *   one is bound by HTTP and JSON, not by the model.
 * Variants: `effect-parallel/batched` (`Serve.layer`, 2 replicas, `maxBatchSize` 32, `maxWait`
 * 5 ms), `effect-parallel/unbatched` (`maxBatchSize: 1`), `node-http/main-thread` (`node:http` with
 * onnxruntime on the event loop), `piscina/per-request` (`node:http` + Piscina, a session per
 * worker thread, 2 threads).
 *
 * Columns: `throughput` is answered items per second (2xx only); `p50Ms`/`p99Ms` the latency
 * percentiles autocannon measured; `errors` non-2xx answers plus connection errors and timeouts;
 * `meanBatch` items per batch the replicas ran in that row (from the server's `/metrics`; 1 for
 * the per-request variants). `ratio` is the row's throughput over `node-http/main-thread`'s at the
 * same model and rate. `check` is `ok` when one prediction from the server matched this process's
 * own onnxruntime answer (within 1e-5). `notes.oneInFlight` has p50 with one connection;
 * `notes.overload` the batched server at twice its saturation rate: accepted p99, how fast refusals
 * come (from 4 probing clients of our own: autocannon times 2xx answers only) and RSS before and after.
 *
 * `--quick`: 2 s per row instead of 6.
 */
import autocannon from "autocannon"
import { fork } from "node:child_process"
import { readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { fileURLToPath } from "node:url"
import { ensureMlpModel, MLP_SEED, MNIST_SHAPE, type MlpShape, WIDE_SHAPE } from "../../src/workloads/mlp.ts"
import { type BenchOptions, UsageError } from "../lib/options.ts"
import { makeRecord, type Result, writeRecord } from "../lib/record.ts"
import { round } from "../lib/stats.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"

const VARIANTS = ["effect-parallel/batched", "effect-parallel/unbatched", "node-http/main-thread", "piscina/per-request"]
const BASELINE = "node-http/main-thread"
const REPLICAS = 2

interface ModelSetup {
  readonly model: "wide" | "mnist"
  readonly shape: MlpShape
  readonly path: string
  readonly binary: boolean
  readonly rates: ReadonlyArray<number>
}

const models: ReadonlyArray<ModelSetup> = [
  {
    model: "wide",
    shape: WIDE_SHAPE,
    path: fileURLToPath(new URL("../models/mlp-wide.onnx", import.meta.url)),
    binary: true,
    rates: [100, 400, 1_000]
  },
  {
    model: "mnist",
    shape: MNIST_SHAPE,
    path: fileURLToPath(new URL("../models/mlp.onnx", import.meta.url)),
    binary: false,
    rates: [300, 1_000, 2_000]
  }
]

export interface ServingRow extends Result {
  readonly model: "wide" | "mnist"
  readonly rate: number | "saturation"
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  readonly errors: number | null
  readonly meanBatch: number | null
}

interface RunningServer {
  readonly url: string
  readonly pid: number
  readonly stop: () => Promise<{ batches: number; items: number; maxRSSKB: number }>
}

const startServer = (variant: string, modelPath: string): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(new URL("./serving/server.ts", import.meta.url)),
      [JSON.stringify({ variant, modelPath, replicas: REPLICAS })],
      { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] }
    )
    let stopped: ((value: { batches: number; items: number; maxRSSKB: number }) => void) | undefined
    let failed: ((error: Error) => void) | undefined
    child.on("message", (message: any) => {
      if (message._tag === "Listening") {
        resolve({
          url: message.url,
          pid: child.pid!,
          stop: () =>
            new Promise((done, fail) => {
              stopped = done
              failed = fail
              child.send("stop")
            })
        })
      } else if (message._tag === "Stopped") stopped?.(message)
    })
    child.on("exit", (code, signal) => {
      const error = new Error(`${variant} server exited (${code ?? signal}) before it reported`)
      reject(error)
      failed?.(error)
    })
  })

/** One item's body and the reference answer computed here. */
const sample = async (setup: ModelSetup) => {
  const item = new Float32Array(setup.shape.input)
  for (let i = 0; i < item.length; i++) item[i] = ((i * 7919) % 1000) / 1000
  const ort = await import("onnxruntime-node")
  const session = await ort.InferenceSession.create(setup.path, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const expected = (await session.run({ images: new ort.Tensor("float32", item, [1, setup.shape.input]) })).probabilities!
    .data as Float32Array
  await session.release()
  const body = setup.binary ? Buffer.from(item.buffer) : JSON.stringify({ inputs: [Array.from(item)] })
  const headers = { "content-type": setup.binary ? "application/octet-stream" : "application/json" }
  return { body, headers, expected: Array.from(expected) }
}

const checkAnswer = async (url: string, setup: ModelSetup, s: Awaited<ReturnType<typeof sample>>) => {
  const response = await fetch(`${url}/v1/models/model/predict`, { method: "POST", headers: s.headers, body: s.body })
  if (response.status !== 200) return `status ${response.status}`
  const got = setup.binary
    ? Array.from(new Float32Array(await response.arrayBuffer()))
    : ((await response.json()) as { outputs: Array<Array<number>> }).outputs[0]!
  if (got.length !== s.expected.length) return `${got.length} outputs, expected ${s.expected.length}`
  const worst = Math.max(...got.map((v, i) => Math.abs(v - s.expected[i]!)))
  return worst <= 1e-5 ? undefined : `differs by ${worst}`
}

/** `[sum, count]` of the batch-size histogram on an effect-parallel server. */
const batchTotals = async (url: string): Promise<[number, number] | undefined> => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const sum = /effect_parallel_serve_batch_size_sum\{[^}]*\} ([\d.e+]+)/.exec(text)
  const count = /effect_parallel_serve_batch_size_count\{[^}]*\} (\d+)/.exec(text)
  return sum === null || count === null ? undefined : [Number(sum[1]), Number(count[1])]
}

const load = (url: string, s: Awaited<ReturnType<typeof sample>>, options: { rate?: number; connections: number; seconds: number }) =>
  autocannon({
    url: `${url}/v1/models/model/predict`,
    method: "POST",
    headers: s.headers,
    body: s.body,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    ...(options.rate === undefined ? {} : { overallRate: options.rate })
  })

/** The server process's resident memory now, in MB (Linux). */
const rssMB = (pid: number): number | null => {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
    return kb === undefined ? null : Math.round(Number(kb) / 1024)
  } catch {
    return null
  }
}

/**
 * Latencies by status from a few clients of our own, each a fresh connection per request, while
 * autocannon overloads the server: autocannon records the latencies of 2xx answers only, and the
 * rejections' latency is the point here.
 */
const probe = (url: string, s: Awaited<ReturnType<typeof sample>>, seconds: number) => {
  const latencies = new Map<number, Array<number>>()
  const until = performance.now() + seconds * 1000
  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now()
      const req = httpRequest(`${url}/v1/models/model/predict`, { method: "POST", agent: false, headers: s.headers }, (res) => {
        res.resume()
        res.on("end", () => {
          const list = latencies.get(res.statusCode ?? 0) ?? []
          list.push(performance.now() - start)
          latencies.set(res.statusCode ?? 0, list)
          resolve()
        })
      })
      req.on("error", () => resolve())
      req.end(s.body)
    })
  const client = async () => {
    while (performance.now() < until) {
      await one()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return Promise.all(Array.from({ length: 4 }, client)).then(() => latencies)
}

const percentile = (values: ReadonlyArray<number>, q: number): number | null => {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!, 3)
}

export const run = async (options: BenchOptions): Promise<void> => {
  const variants = options.variants ?? VARIANTS
  for (const v of variants) if (!VARIANTS.includes(v)) throw new UsageError(`unknown variant ${v}; serving has ${VARIANTS.join(", ")}`)
  const seconds = options.quick ? 2 : 6
  const columns: ReadonlyArray<Column> = [
    { header: "model", meaning: "wide: 2048-8192-10 MLP, binary bodies; mnist: 784-512-10 MLP, JSON bodies (HTTP-bound)" },
    { header: "variant", meaning: "the server, in its own process" },
    { header: "rate", align: "right", meaning: "offered requests/s (open loop), or saturation (64 connections back to back)" },
    { header: "items/s", align: "right", meaning: "answered items per second (2xx)" },
    { header: "p50 ms", align: "right", meaning: "median latency" },
    { header: "p99 ms", align: "right", meaning: "99th percentile latency" },
    { header: "errors", align: "right", meaning: "non-2xx answers, connection errors and timeouts" },
    { header: "batch", align: "right", meaning: "mean items per batch the replicas ran" },
    { header: "vs main", align: "right", meaning: "items/s over node-http/main-thread's at the same model and rate" },
    { header: "MB", align: "right", meaning: "the server process's peak RSS (threads included) over all its rows" }
  ]
  process.stdout.write(`serving: ${seconds} s per row, ${REPLICAS} replicas/threads, node ${process.version}\n`)
  printLegend(columns)
  const rows: Array<Omit<ServingRow, "ratio"> & { ratio: number | null }> = []
  const oneInFlight: Record<string, Record<string, number>> = {}
  const problems: Record<string, string> = {}
  const overload: Record<string, unknown> = {}
  for (const setup of models) {
    ensureMlpModel(setup.path, MLP_SEED, setup.shape)
    const s = await sample(setup)
    for (const variant of variants) {
      try {
        await measureServer(variant, setup, s)
      } catch (error) {
        problems[`${setup.model} ${variant}`] = String(error)
        process.stdout.write(`  ${setup.model} ${variant}: failed: ${String(error)}\n`)
      }
    }
  }

  async function measureServer(variant: string, setup: ModelSetup, s: Awaited<ReturnType<typeof sample>>) {
    const server = await startServer(variant, setup.path)
    while ((await fetch(`${server.url}/readyz`).catch(() => undefined))?.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const problem = await checkAnswer(server.url, setup, s)
    if (problem !== undefined) problems[`${setup.model} ${variant}`] = problem
    await load(server.url, s, { connections: 8, seconds: 1 }) // warm-up
    const single = await load(server.url, s, { connections: 1, seconds: Math.min(3, seconds) })
    ;(oneInFlight[setup.model] ??= {})[variant] = single.latency.p50
    const serverRows: Array<(typeof rows)[number]> = []
    for (const rate of [...setup.rates, "saturation" as const]) {
      const before = variant.startsWith("effect-parallel") ? await batchTotals(server.url) : undefined
      const result = await load(server.url, s, rate === "saturation"
        ? { connections: 64, seconds }
        : { rate, connections: Math.min(256, Math.max(16, Math.ceil(rate / 20))), seconds })
      const after = variant.startsWith("effect-parallel") ? await batchTotals(server.url) : undefined
      const meanBatch = before !== undefined && after !== undefined && after[1] > before[1]
        ? round((after[0] - before[0]) / (after[1] - before[1]), 2)
        : variant.startsWith("effect-parallel") ? null : 1
      const row = {
        variant,
        workers: REPLICAS,
        seconds: result.duration,
        throughput: Math.round((10 * result["2xx"]) / result.duration) / 10,
        peakRssMB: null as number | null,
        ratio: null,
        check: (problem === undefined ? "ok" : "mismatch") as Result["check"],
        model: setup.model,
        rate,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        errors: result.non2xx + result.errors + result.timeouts,
        meanBatch
      }
      serverRows.push(row)
      process.stdout.write(
        `  ${setup.model} ${variant} @ ${rate}: ${fmt(row.throughput)} items/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.errors} errors, batch ${row.meanBatch}\n`
      )
    }
    const saturated = serverRows.at(-1)
    if (variant === "effect-parallel/batched" && saturated?.throughput) {
      // Twice the saturation rate: accepted requests keep their latency, the rest are refused fast, RSS stays flat.
      const rate = Math.round(2 * saturated.throughput)
      const rssBefore = rssMB(server.pid)
      const [result, probed] = await Promise.all([
        load(server.url, s, { rate, connections: 512, seconds }),
        probe(server.url, s, seconds)
      ])
      const rejected = probed.get(503) ?? []
      overload[setup.model] = {
        rate,
        throughput: Math.round((10 * result["2xx"]) / result.duration) / 10,
        acceptedP99Ms: result.latency.p99,
        refused: result.non2xx,
        probeRefusedP99Ms: percentile(rejected, 0.99),
        probeRefusedP50Ms: percentile(rejected, 0.5),
        probeAcceptedP99Ms: percentile(probed.get(200) ?? [], 0.99),
        probeCounts: Object.fromEntries([...probed].map(([status, list]) => [status, list.length])),
        rssBeforeMB: rssBefore,
        rssAfterMB: rssMB(server.pid)
      }
      process.stdout.write(`  ${setup.model} ${variant} @ 2x saturation (${rate}/s): ${JSON.stringify(overload[setup.model])}\n`)
    }
    const stopped = await server.stop()
    for (const row of serverRows) rows.push({ ...row, peakRssMB: Math.round(stopped.maxRSSKB / 1024) })
  }
  const results: ReadonlyArray<ServingRow> = rows.map((row) => {
    const base = rows.find((b) => b.variant === BASELINE && b.model === row.model && b.rate === row.rate)
    return {
      ...row,
      ratio: base === undefined || base.throughput === null || base.throughput === 0 || row.throughput === null
        ? null
        : round(row.throughput / base.throughput, 2)
    }
  })
  const path = await writeRecord(makeRecord({
    scenario: "serving",
    baseline: BASELINE,
    results,
    notes: {
      load: "autocannon (programmatic) in the bench process; servers in their own processes; loopback; one item per request",
      secondsPerRow: seconds,
      oneInFlight,
      overload,
      ...(Object.keys(problems).length > 0 ? { problems } : {})
    }
  }))
  process.stdout.write("\n")
  printTable(
    columns,
    results.map((r) => [
      r.model,
      r.variant,
      String(r.rate),
      fmt(r.throughput),
      fmt(r.p50Ms, 1),
      fmt(r.p99Ms, 1),
      String(r.errors),
      r.meanBatch === null ? "-" : fmt(r.meanBatch, 1),
      r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
      fmt(r.peakRssMB)
    ])
  )
  process.stdout.write(
    `\none request in flight, p50 ms: ${JSON.stringify(oneInFlight)}\nat 2x saturation: ${JSON.stringify(overload)}\nwrote ${path}\n`
  )
}
