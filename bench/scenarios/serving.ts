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
import { readdirSync, readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { ensureMlpModel, MLP_SEED, MNIST_SHAPE, type MlpShape, WIDE_SHAPE } from "../../src/workloads/mlp.ts"
import { type BenchOptions, UsageError } from "../lib/options.ts"
import { makeRecord, type Result, writeRecord } from "../lib/record.ts"
import { round } from "../lib/stats.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import type { Diagnostics, SocketTimes } from "./serving/diagnostics.ts"

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
  /** p99 of the 2xx answers' latencies, each counted once (see `load`). */
  readonly rawP99Ms: number | null
  readonly errors: number | null
  readonly meanBatch: number | null
}

interface RunningServer {
  readonly url: string
  readonly pid: number
  readonly stop: () => Promise<{ batches: number; items: number; maxRSSKB: number }>
  /** The server's diagnostics since the last call (`serving/diagnostics.ts`). */
  readonly diagnose: () => Promise<Diagnostics>
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
    let diagnosed: ((d: Diagnostics) => void) | undefined
    child.on("message", (message: any) => {
      if (message._tag === "Diagnostics") diagnosed?.(message)
      else if (message._tag === "Listening") {
        resolve({
          url: message.url,
          pid: child.pid!,
          diagnose: () =>
            new Promise((done) => {
              diagnosed = done
              child.send({ _tag: "Diagnose" })
            }),

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

/**
 * autocannon's run, and every response's latency once, by status (`raw`). At a fixed rate,
 * autocannon's own percentiles are "corrected for coordinated omission" with an expected interval
 * of `Math.ceil(1 / rate)` — rate being one connection's requests per second, so 1 ms — which
 * records a response of n ms as n samples (n, n − 1, … 1 ms): its p99 is then a percentile of
 * time, not of requests, and may sit above or below theirs. `raw` counts each response once (and
 * keeps non-2xx ones, which autocannon leaves out of its latencies).
 */
const load = async (url: string, s: Awaited<ReturnType<typeof sample>>, options: { rate?: number; connections: number; seconds: number }) => {
  const raw = new Map<number, Array<number>>()
  const run = autocannon({
    url: `${url}/v1/models/model/predict`,
    method: "POST",
    headers: s.headers,
    body: s.body,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    ...(options.rate === undefined ? {} : { overallRate: options.rate })
  }) as unknown as Promise<autocannon.Result> & import("node:events").EventEmitter
  run.on("response", (_client: unknown, status: number, _bytes: number, millis: number) => {
    let list = raw.get(status)
    if (list === undefined) raw.set(status, list = [])
    list.push(millis)
  })
  const result = await run
  return Object.assign(result, { raw })
}

const rawPercentiles = (raw: Map<number, Array<number>>, status: number) => {
  const values = raw.get(status) ?? []
  return { count: values.length, p50Ms: percentile(values, 0.5), p99Ms: percentile(values, 0.99) }
}

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
  const timings: Array<ProbeTiming> = []
  const until = performance.now() + seconds * 1000
  const epoch = () => performance.timeOrigin + performance.now()
  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now()
      const timing: { start: number; connected?: number; port?: number | undefined } = { start: epoch() }
      const req = httpRequest(`${url}/v1/models/model/predict`, { method: "POST", agent: false, headers: s.headers }, (res) => {
        res.resume()
        res.on("end", () => {
          const list = latencies.get(res.statusCode ?? 0) ?? []
          list.push(performance.now() - start)
          latencies.set(res.statusCode ?? 0, list)
          if (timing.port !== undefined && timing.connected !== undefined) {
            timings.push({ status: res.statusCode ?? 0, start: timing.start, connected: timing.connected, end: epoch(), port: timing.port })
          }
          resolve()
        })
      })
      req.on("socket", (socket) => {
        socket.on("connect", () => {
          timing.connected = epoch()
          timing.port = socket.localPort
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
  return Promise.all(Array.from({ length: 4 }, client)).then(() => ({ latencies, timings }))
}

interface ProbeTiming {
  readonly status: number
  readonly start: number
  readonly connected: number
  readonly end: number
  readonly port: number
}

/**
 * Splits the probes' refusals (503) into: connecting (the client's loop and the handshake),
 * waiting to be accepted, accepted until Node's `request` event (the server reading the request),
 * the server's own time (`request` to `finish`), and `finish` until the client saw the end (the
 * client's lag). Joined with the server's socket times by the probe's port. p50/p99 of each, ms.
 */
const splitProbes = (timings: ReadonlyArray<ProbeTiming>, sockets: Record<string, SocketTimes>, status: number) => {
  const parts: Record<string, Array<number>> = { connect: [], acceptWait: [], toRequest: [], server: [], toClient: [], total: [] }
  for (const t of timings) {
    if (t.status !== status) continue
    const server = sockets[String(t.port)]
    if (server?.accepted === undefined || server.requestStart === undefined || server.finish === undefined) continue
    parts.connect!.push(t.connected - t.start)
    parts.acceptWait!.push(server.accepted - t.connected)
    parts.toRequest!.push(server.requestStart - server.accepted)
    parts.server!.push(server.finish - server.requestStart)
    parts.toClient!.push(t.end - server.finish)
    parts.total!.push(t.end - t.start)
  }
  return Object.fromEntries(Object.entries(parts).map(([name, values]) => [name, { p50: percentile(values, 0.5), p99: percentile(values, 0.99) }]))
}

/** CPU seconds of each thread of `pid` by thread name (Linux), for the difference across a row. */
const threadCpu = (pid: number): Map<string, number> => {
  const byName = new Map<string, number>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const ticks = Number(fields[11]) + Number(fields[12])
      byName.set(name, (byName.get(name) ?? 0) + ticks / 100)
    }
  } catch {
    // The process is gone.
  }
  return byName
}

const cpuSince = (before: Map<string, number>, after: Map<string, number>, seconds: number) =>
  Object.fromEntries([...after].map(([name, s]) => [name, round((s - (before.get(name) ?? 0)) / seconds, 2)]))

/**
 * Runs `work` and measures around it what the issue asks to separate: the server's diagnostics,
 * this process's (the load generator's) event-loop delay and CPU, and each server thread's CPU
 * (cores, by thread name).
 */
const observed = async <A>(server: RunningServer, seconds: number, work: () => Promise<A>) => {
  await server.diagnose()
  const clientLoop = monitorEventLoopDelay({ resolution: 1 })
  clientLoop.enable()
  const clientCpu = process.cpuUsage()
  const threadsBefore = threadCpu(server.pid)
  const startedAt = performance.now()
  const value = await work()
  const elapsed = (performance.now() - startedAt) / 1000
  clientLoop.disable()
  const cpu = process.cpuUsage(clientCpu)
  const serverDiagnostics = await server.diagnose()
  const diagnostics = {
    server: serverDiagnostics.server,
    serverLoopDelay: serverDiagnostics.loopDelay,
    serverGc: serverDiagnostics.gc,
    serverMainCpu: round(serverDiagnostics.mainCpuMs / 1000 / elapsed, 2),
    serverThreadsCpu: cpuSince(threadsBefore, threadCpu(server.pid), elapsed),
    accepted: serverDiagnostics.accepted,
    clientLoopDelay: {
      p50Ms: round(clientLoop.percentile(50) / 1e6, 2),
      p99Ms: round(clientLoop.percentile(99) / 1e6, 2),
      maxMs: round(clientLoop.max / 1e6, 2)
    },
    clientCpu: round((cpu.user + cpu.system) / 1e6 / elapsed, 2)
  }
  void seconds
  return { value, diagnostics, sockets: serverDiagnostics.sockets }
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
    { header: "p99 ms", align: "right", meaning: "99th percentile latency (autocannon's; at a fixed rate weighted by latency, see load())" },
    { header: "raw p99", align: "right", meaning: "99th percentile of the 2xx answers, each counted once" },
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
  const diagnostics: Record<string, unknown> = {}
  const selected = models.filter((m) => options.model === undefined || m.model === options.model)
  if (selected.length === 0) throw new UsageError(`unknown model ${options.model}; serving has ${models.map((m) => m.model).join(", ")}`)
  for (const setup of selected) {
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
    const rates = [...setup.rates, "saturation" as const].filter((rate) => options.rates === undefined || options.rates.includes(rate))
    for (const rate of rates) {
      const before = variant.startsWith("effect-parallel") ? await batchTotals(server.url) : undefined
      const { diagnostics: rowDiagnostics, value: result } = await observed(server, seconds, () =>
        load(server.url, s, rate === "saturation"
          ? { connections: 64, seconds }
          : { rate, connections: Math.min(256, Math.max(16, Math.ceil(rate / 20))), seconds }))
      diagnostics[`${setup.model} ${variant} @ ${rate}`] = rowDiagnostics
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
        rawP99Ms: rawPercentiles(result.raw, 200).p99Ms,
        errors: result.non2xx + result.errors + result.timeouts,
        meanBatch
      }
      serverRows.push(row)
      process.stdout.write(
        `  ${setup.model} ${variant} @ ${rate}: ${fmt(row.throughput)} items/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms (raw ${row.rawP99Ms}), ${row.errors} errors, batch ${row.meanBatch}\n` +
          `    diagnostics: ${JSON.stringify(rowDiagnostics)}\n`
      )
    }
    const saturated = serverRows.at(-1)
    if (variant === "effect-parallel/batched" && saturated?.rate === "saturation" && saturated.throughput) {
      // Twice the saturation rate: accepted requests keep their latency, the rest are refused fast, RSS stays flat.
      const rate = Math.round(2 * saturated.throughput)
      const rssBefore = rssMB(server.pid)
      const batchesBefore = await batchTotals(server.url)
      const { diagnostics: rowDiagnostics, sockets, value: [result, { latencies: probed, timings }] } = await observed(
        server,
        seconds,
        () => Promise.all([load(server.url, s, { rate, connections: 512, seconds }), probe(server.url, s, seconds)])
      )
      diagnostics[`${setup.model} ${variant} @ 2x saturation`] = {
        ...rowDiagnostics,
        refusedProbes: splitProbes(timings, sockets, 503),
        acceptedProbes: splitProbes(timings, sockets, 200)
      }
      const batchesAfter = await batchTotals(server.url)
      const rejected = probed.get(503) ?? []
      overload[setup.model] = {
        rate,
        throughput: Math.round((10 * result["2xx"]) / result.duration) / 10,
        acceptedP99Ms: result.latency.p99,
        acceptedRaw: rawPercentiles(result.raw, 200),
        refusedRaw: rawPercentiles(result.raw, 503),
        refused: result.non2xx,
        meanBatch: batchesBefore !== undefined && batchesAfter !== undefined && batchesAfter[1] > batchesBefore[1]
          ? round((batchesAfter[0] - batchesBefore[0]) / (batchesAfter[1] - batchesBefore[1]), 2)
          : null,
        probeRefusedP99Ms: percentile(rejected, 0.99),
        probeRefusedP50Ms: percentile(rejected, 0.5),
        probeAcceptedP99Ms: percentile(probed.get(200) ?? [], 0.99),
        probeCounts: Object.fromEntries([...probed].map(([status, list]) => [status, list.length])),
        rssBeforeMB: rssBefore,
        rssAfterMB: rssMB(server.pid)
      }
      process.stdout.write(
        `  ${setup.model} ${variant} @ 2x saturation (${rate}/s): ${JSON.stringify(overload[setup.model])}\n` +
          `    diagnostics: ${JSON.stringify(diagnostics[`${setup.model} ${variant} @ 2x saturation`])}\n`
      )
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
      diagnostics,
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
      fmt(r.rawP99Ms, 1),
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
