/**
 * Pipelines and channels: worker-to-worker channel throughput against MessageChannel, and a three-stage pipeline against barriers and serial.
 *
 * Channels (one worker sends, another takes; the caller only starts them and waits):
 * - `effect-parallel/channel`: a `Channel` passed to two `ChannelEnd` actors on two workers.
 *   Records (`{ id, name, value }`) go through a Schema channel (a flat struct: binary slots of 64 bytes,
 *   batches of 256 per `sendAll`); float64 values through a numeric channel (`Float64Array`
 *   batches of 4096 in, `takeArray` out).
 * - `messagechannel/per-element`: two bare `worker_threads` workers joined by a `MessageChannel`,
 *   one `postMessage` per element (no backpressure: the port's queue is unbounded).
 * - `messagechannel/batched`: the same, one `postMessage` per 256 elements (float64: a
 *   transferred `Float64Array`).
 * `throughput` is elements per second from the start of both ends to the taker's checksum;
 * `ratio` is over `messagechannel/per-element` with the same `payload`; `check` compares the
 * taker's count and checksum with the expected ones. Per-element float64 moves 1,000,000 values
 * (10,000,000 one message each would take minutes); the others 10,000,000. Round trip: one number
 * there and back between two workers (`notes.roundTripMicros`, p50 and p99).
 *
 * Pipeline (elements are seeds; generate → convolve (the heavy stage) → reduce, see
 * `pipeline/kernels.ts`; the result is the sum of the reduced values, in input order):
 * - `serial` (baseline): the three functions in a loop on the caller's thread;
 * - `effect-parallel/pipeline`: `Pipeline.task` stages (batches of 64, 4 in flight per stage)
 *   over `Stream.range` on a pool of `cores` workers: constant memory;
 * - `effect-parallel/pipeline-fused`: the same three tasks as one fused stage
 *   (`Pipeline.task(Pipeline.fuse(…))`, same batches): each image runs all three on one worker
 *   and only the seed and the sum cross;
 * - `effect-parallel/worker-to-worker`: the same stages with no element visiting the caller: two
 *   lanes, each a generating actor on one worker that sends whole images (one element each) into a
 *   channel of `Float64Array`s read by a convolve-and-sum actor on the other worker (its sum compared up to rounding, since
 *   the lanes add in another order);
 * - `barrier`: `Task.map` of each stage over every element, one stage after the other (every
 *   intermediate result held at once).
 * `seconds` is one run; `peakRssMB` the process's peak RSS during it (threads share the process;
 * variants run in this order in one process, so a later one starts from what earlier ones left);
 * `notes.rss` has the RSS at every 10% of the elements (barrier: after each stage, and sampled every
 * 10% of its run time). `check` compares the sum with serial's.
 *
 * `--passes n`: every variant runs n times, interleaved; each row reports its median pass (by
 * throughput or seconds). `--quick`: small counts, for a smoke run and the test that runs this scenario.
 * `--variants a,b`: only these rows (the channel rows' baseline and `serial` always run, so ratios
 * stay defined; `long-run` names the long run): `--variants effect-parallel/pipeline,barrier` runs
 * the pipeline part alone.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { MessageChannel, Worker as Thread } from "node:worker_threads"
import { Actor, Channel, Pipeline, Task, WorkerPool } from "effect-parallel"
import { type BenchOptions, cores, UsageError } from "../lib/options.ts"
import { makeRecord, type Result, writeRecord } from "../lib/record.ts"
import { round } from "../lib/stats.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import { convolve, convolveImage, generate, generateImage, reduce, side, sumImage } from "./pipeline/kernels.ts"
import {
  ChannelEnd,
  Image,
  Lane,
  Convolve,
  ConvolveImage,
  Generate,
  GenerateImage,
  PipelineBench,
  Rec,
  Reduce,
  SumImage
} from "./pipeline/tasks.ts"

const entry = new URL("./pipeline/worker.ts", import.meta.url)
const rawEntry = new URL("./pipeline/raw-worker.ts", import.meta.url)

const sizes = (quick: boolean) =>
  quick
    ? { records: 20_000, numbers: 400_000, perElementNumbers: 40_000, roundTrips: 200, images: 200, elements: 4_000 }
    : { records: 1_000_000, numbers: 10_000_000, perElementNumbers: 1_000_000, roundTrips: 2_000, images: 10_000, elements: 1_000_000 }

type Payload = "record" | "float64"

interface Row extends Result {
  readonly payload?: Payload
}

const rssMB = () => Math.round(process.memoryUsage.rss() / (1024 * 1024))

/** Peak RSS while `body` runs, sampled every 20 ms and at the end. */
const withPeakRss = async <A>(body: () => Promise<A>): Promise<{ value: A; peakRssMB: number; seconds: number }> => {
  let peak = rssMB()
  const timer = setInterval(() => (peak = Math.max(peak, rssMB())), 20)
  const start = performance.now()
  try {
    const value = await body()
    const seconds = (performance.now() - start) / 1000
    peak = Math.max(peak, rssMB())
    return { value, peakRssMB: peak, seconds }
  } finally {
    clearInterval(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

const expectedChecksum = (payload: Payload, count: number) =>
  payload === "record" ? (count * (count - 1)) / 2 * 1.5 : (count * (count - 1)) / 2

const channelPool = WorkerPool.layer(PipelineBench, { entry, size: 2 })

const effectParallelChannel = (payload: Payload, count: number) =>
  Effect.gen(function*() {
    const sender = yield* Actor.spawn(ChannelEnd, {}, { worker: 0 })
    const taker = yield* Actor.spawn(ChannelEnd, {}, { worker: 1 })
    const start = performance.now()
    let taken: { count: number; checksum: number }
    if (payload === "record") {
      const channel = yield* Channel.make(Rec, { capacity: 4096, slotBytes: 64 })
      ;[, taken] = yield* Effect.all([
        Effect.andThen(sender.call("sendRecords", { out: channel, count }), Channel.close(channel)),
        taker.call("takeRecords", { from: channel })
      ], { concurrency: 2 })
    } else {
      const channel = yield* Channel.make("Float64", { capacity: 65_536 })
      ;[, taken] = yield* Effect.all([
        Effect.andThen(sender.call("sendNumbers", { out: channel, count }), Channel.close(channel)),
        taker.call("takeNumbers", { from: channel })
      ], { concurrency: 2 })
    }
    return { seconds: (performance.now() - start) / 1000, taken }
  }).pipe(Effect.scoped)

const effectParallelRoundTrips = (count: number) =>
  Effect.gen(function*() {
    const pinger = yield* Actor.spawn(ChannelEnd, {}, { worker: 0 })
    const ponger = yield* Actor.spawn(ChannelEnd, {}, { worker: 1 })
    const there = yield* Channel.make("Float64", { capacity: 2 })
    const back = yield* Channel.make("Float64", { capacity: 2 })
    const [micros] = yield* Effect.all([
      Effect.tap(pinger.call("ping", { out: there, from: back, count }), () => Channel.close(there)),
      ponger.call("pong", { from: there, out: back })
    ], { concurrency: 2 })
    return micros
  }).pipe(Effect.scoped)

/** Two bare workers joined by a MessageChannel; resolves with the consumer's answer and the time. */
const messageChannel = async (payload: Payload, count: number, batched: boolean) => {
  const producer = new Thread(rawEntry)
  const consumer = new Thread(rawEntry)
  try {
    await Promise.all([producer, consumer].map((w) => new Promise((resolve) => w.once("online", resolve))))
    const { port1, port2 } = new MessageChannel()
    const start = performance.now()
    const done = new Promise<{ count: number; checksum: number }>((resolve) => consumer.once("message", resolve))
    consumer.postMessage({ role: "consume", port: port2, payload, count, batched }, [port2])
    producer.postMessage({ role: "produce", port: port1, payload, count, batched }, [port1])
    const taken = await done
    return { seconds: (performance.now() - start) / 1000, taken }
  } finally {
    await Promise.all([producer.terminate(), consumer.terminate()])
  }
}

const messageChannelRoundTrips = async (count: number): Promise<ReadonlyArray<number>> => {
  const pinger = new Thread(rawEntry)
  const ponger = new Thread(rawEntry)
  try {
    const { port1, port2 } = new MessageChannel()
    const done = new Promise<{ micros: Array<number> }>((resolve) => pinger.once("message", resolve))
    ponger.postMessage({ role: "pong", port: port2, payload: "float64", count, batched: false }, [port2])
    pinger.postMessage({ role: "ping", port: port1, payload: "float64", count, batched: false }, [port1])
    return (await done).micros
  } finally {
    await Promise.all([pinger.terminate(), ponger.terminate()])
  }
}

const pct = (sorted: ReadonlyArray<number>, p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!, 3)

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

/** Records the RSS at each 10% of `total` elements. */
const tenths = (total: number) => {
  const samples: Array<number> = []
  let next = Math.ceil(total / 10)
  return {
    samples,
    tick: (done: number) => {
      if (done >= next) {
        samples.push(rssMB())
        next += Math.ceil(total / 10)
      }
    }
  }
}

const serial = (n: number) => {
  const rss = tenths(n)
  let sum = 0
  for (let i = 0; i < n; i++) {
    sum += sumImage(convolveImage(generateImage(i)))
    rss.tick(i + 1)
  }
  return { sum, rss: rss.samples }
}

/** `Pipeline.task`'s defaults (batch 64, 4 in flight), spelled out: no row is tuned on its own. */
const stage = { batch: 64, concurrency: 4 }

const pipelined = (n: number) =>
  Effect.suspend(() => {
    const rss = tenths(n)
    let sum = 0
    let done = 0
    return Stream.range(0, n - 1).pipe(
      Pipeline.task(GenerateImage, stage),
      Pipeline.task(ConvolveImage, stage),
      Pipeline.task(SumImage, stage),
      Stream.runForEach((x) =>
        Effect.sync(() => {
          sum += x
          rss.tick(++done)
        })
      ),
      Effect.map(() => ({ sum, rss: rss.samples }))
    )
  })

const fusedStages = Pipeline.fuse(GenerateImage, ConvolveImage, SumImage)

const pipelinedFused = (n: number) =>
  Effect.suspend(() => {
    const rss = tenths(n)
    let sum = 0
    let done = 0
    return Stream.range(0, n - 1).pipe(
      Pipeline.task(fusedStages, stage),
      Stream.runForEach((x) =>
        Effect.sync(() => {
          sum += x
          rss.tick(++done)
        })
      ),
      Effect.map(() => ({ sum, rss: rss.samples }))
    )
  })

const barrier = (n: number, expectedSeconds: number) =>
  Effect.suspend(() => {
    const rss: Array<number> = []
    const timer = setInterval(() => rss.push(rssMB()), Math.max(10, (expectedSeconds * 1000) / 10))
    return Effect.gen(function*() {
      const seeds = Array.from({ length: n }, (_, i) => i)
      const generated = yield* Task.map(GenerateImage, seeds)
      const convolved = yield* Task.map(ConvolveImage, generated)
      const reduced = yield* Task.map(SumImage, convolved)
      let sum = 0
      for (const x of reduced) sum += x
      return { sum, rss }
    }).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
  })

/**
 * Worker to worker: two lanes, each a generator on one worker sending whole images through its own
 * channel to a convolve-and-sum stage on the other worker; the caller only starts them and adds the
 * two sums. (Images go to lanes by parity, so the sum is added in another order than serial's.)
 */
const workerToWorker = (n: number) =>
  Effect.gen(function*() {
    const lanes = [0, 1]
    const generators = yield* Effect.forEach(lanes, (k) => Actor.spawn(Lane, {}, { worker: k }))
    const convolvers = yield* Effect.forEach(lanes, (k) => Actor.spawn(Lane, {}, { worker: 1 - k }))
    const channels = yield* Effect.forEach(lanes, () => Channel.make(Image, { capacity: 4, slotBytes: 4 + 8 * side * side }))
    const sums = yield* Effect.forEach(lanes, (k) =>
      Effect.map(
        Effect.all([
          Effect.andThen(generators[k]!.call("generate", { out: channels[k]!, first: k, step: 2, count: n }), Channel.close(channels[k]!)),
          convolvers[k]!.call("convolveSum", { from: channels[k]! })
        ], { concurrency: 2 }),
        ([, sum]) => sum
      ), { concurrency: 2 })
    return { sum: sums[0]! + sums[1]!, rss: [] as Array<number> }
  }).pipe(Effect.scoped)

/** The light stages over many elements: the pipelined run whose RSS must stay flat. */
const longRun = (n: number) =>
  Effect.suspend(() => {
    const rss = tenths(n)
    let sum = 0
    let done = 0
    const light = { batch: 256, concurrency: 4 }
    return Stream.range(0, n - 1).pipe(
      Pipeline.task(Generate, light),
      Pipeline.task(Convolve, light),
      Pipeline.task(Reduce, light),
      Stream.runForEach((x) =>
        Effect.sync(() => {
          sum += x
          rss.tick(++done)
        })
      ),
      Effect.map(() => ({ sum, rss: rss.samples }))
    )
  })

const serialLight = (n: number) => {
  let sum = 0
  for (let i = 0; i < n; i++) sum += reduce(convolve(generate(i)))
  return sum
}

// ---------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------

const channelVariants = ["messagechannel/per-element", "messagechannel/batched", "effect-parallel/channel"]
const pipelineVariants = ["effect-parallel/pipeline", "effect-parallel/pipeline-fused", "effect-parallel/worker-to-worker", "barrier"]
const allVariants = [...channelVariants, "serial", ...pipelineVariants, "long-run"]

export const run = async (options: BenchOptions): Promise<void> => {
  for (const v of options.variants ?? []) {
    if (!allVariants.includes(v)) throw new UsageError(`unknown variant ${v}; pipeline has ${allVariants.join(", ")}`)
  }
  const wanted = (variant: string) => options.variants === undefined || options.variants.includes(variant)
  const wantChannels = channelVariants.some(wanted)
  const size = sizes(options.quick)
  const workers = cores()
  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: "what moves the elements (channels) or runs the stages (pipeline)" },
    { header: "payload", meaning: "channels: record ({ id, name, value }) or float64; pipeline: -" },
    { header: "elements", align: "right", meaning: "elements moved or processed" },
    { header: "seconds", align: "right", meaning: "wall-clock seconds of the run" },
    { header: "elements/s", align: "right", meaning: "throughput (channels)" },
    { header: "ratio", align: "right", meaning: "channels: over messagechannel/per-element (same payload); pipeline: serial's seconds over the variant's" },
    { header: "peak RSS MB", align: "right", meaning: "the process's peak RSS during the run" },
    { header: "check", meaning: "ok when the count and checksum (channels) or the sum (pipeline) match" }
  ]
  printLegend(columns)
  const rows: Array<Row> = []
  const errors: Record<string, string> = {}
  const channelRow = (variant: string, payload: Payload, count: number, outcome: { seconds: number; taken: { count: number; checksum: number } }, peakRssMB: number): Row => ({
    variant,
    workers: 2,
    seconds: round(outcome.seconds, 4),
    throughput: Math.round(count / outcome.seconds),
    peakRssMB,
    ratio: null,
    check: outcome.taken.count === count && outcome.taken.checksum === expectedChecksum(payload, count) ? "ok" : "mismatch",
    payload
  })

  // Channels (each pass runs every variant; a row reports its median pass)
  for (let pass = 0; pass < (wantChannels ? options.passes : 0); pass++) for (const payload of ["record", "float64"] as const) {
    const count = payload === "record" ? size.records : size.numbers
    const perElement = payload === "record" ? size.records : size.perElementNumbers
    const all: ReadonlyArray<readonly [string, number, () => Promise<{ seconds: number; taken: { count: number; checksum: number } }>]> = [
      ["messagechannel/per-element", perElement, () => messageChannel(payload, perElement, false)],
      ["messagechannel/batched", count, () => messageChannel(payload, count, true)],
      ["effect-parallel/channel", count, () => Effect.runPromise(effectParallelChannel(payload, count).pipe(Effect.provide(channelPool)))]
    ]
    const runs = all.filter(([variant]) => variant === "messagechannel/per-element" || wanted(variant))
    for (const [variant, n, body] of runs) {
      try {
        const measured = await withPeakRss(body)
        rows.push(channelRow(variant, payload, n, measured.value, measured.peakRssMB))
      } catch (error) {
        errors[`${variant}/${payload}`] = String(error)
        rows.push({ variant, workers: 2, seconds: null, throughput: null, peakRssMB: null, ratio: null, check: "error", payload })
      }
    }
  }
  const roundTripMicros = wantChannels
    ? {
      "effect-parallel/channel": await Effect.runPromise(
        effectParallelRoundTrips(size.roundTrips).pipe(Effect.provide(channelPool))
      ).then((m) => ({ p50: pct(m, 50), p99: pct(m, 99) })),
      "messagechannel": await messageChannelRoundTrips(size.roundTrips).then((m) => ({ p50: pct(m, 50), p99: pct(m, 99) }))
    }
    : undefined

  // Pipeline
  const n = size.images
  const rssTenths: Record<string, ReadonlyArray<number>> = {}
  const pipelineRows: Array<Row> = []
  const pool = WorkerPool.layer(PipelineBench, { entry, size: workers })
  /** Runs `body` on a started, warmed pool (start-up and first compilation are not the pipeline's cost). */
  const onPool = <A>(body: () => Effect.Effect<A, unknown, any>) =>
    Effect.runPromise(
      Effect.gen(function*() {
        const context = yield* Layer.build(pool)
        // A fresh worker's first thousand images run slower (compilation, a young heap that
        // grows): every variant gets the same warm-up, unfused and fused, as serial's thread has.
        const warm = Math.min(n, 1000)
        yield* Effect.provide(Stream.range(0, warm - 1).pipe(
          Pipeline.task(GenerateImage, stage),
          Pipeline.task(ConvolveImage, stage),
          Pipeline.task(SumImage, stage),
          Stream.runDrain
        ), context)
        yield* Effect.provide(Stream.range(0, warm - 1).pipe(Pipeline.task(fusedStages, stage), Stream.runDrain), context)
        return yield* Effect.promise(() => withPeakRss(() => Effect.runPromise(Effect.provide(body(), context) as Effect.Effect<A>)))
      }).pipe(Effect.scoped)
    )
  let serialRun = await withPeakRss(async () => serial(n))
  for (let pass = 0; pass < options.passes; pass++) {
  if (pass > 0) serialRun = await withPeakRss(async () => serial(n))
  rssTenths.serial = serialRun.value.rss
  pipelineRows.push({
    variant: "serial",
    workers: 1,
    seconds: round(serialRun.seconds, 4),
    throughput: null,
    peakRssMB: serialRun.peakRssMB,
    ratio: null,
    check: "ok"
  })
  for (const [variant, make] of [
    ["effect-parallel/pipeline", () => pipelined(n)],
    ["effect-parallel/pipeline-fused", () => pipelinedFused(n)],
    ["effect-parallel/worker-to-worker", () => workerToWorker(n)],
    ["barrier", () => barrier(n, serialRun.seconds / workers)]
  ] as const) {
    if (!wanted(variant)) continue
    try {
      const measured = await onPool(make)
      rssTenths[variant] = measured.value.rss
      pipelineRows.push({
        variant,
        workers,
        seconds: round(measured.seconds, 4),
        throughput: null,
        peakRssMB: measured.peakRssMB,
        ratio: null,
        // Worker to worker adds in another order: equal up to rounding.
        check: Math.abs(measured.value.sum - serialRun.value.sum) <= 1e-9 * Math.abs(serialRun.value.sum) ? "ok" : "mismatch"
      })
    } catch (error) {
      errors[variant] = String(error)
      pipelineRows.push({ variant, workers, seconds: null, throughput: null, peakRssMB: null, ratio: null, check: "error" })
    }
  }
  }
  // The long run: many light elements through the pipeline, RSS at every 10%.
  const long = wanted("long-run") ? await onPool(() => longRun(size.elements)) : undefined
  const longRunNote = long === undefined ? undefined : {
    elements: size.elements,
    seconds: round(long.seconds, 4),
    peakRssMB: long.peakRssMB,
    rssMBEvery10Percent: long.value.rss,
    check: long.value.sum === serialLight(size.elements) ? "ok" : "mismatch"
  }

  // Each row from its median pass: by throughput (channels) or seconds (pipeline).
  const medianRows = (all: ReadonlyArray<Row>, by: (r: Row) => number): Array<Row> => {
    const groups = new Map<string, Array<Row>>()
    for (const r of all) {
      const key = `${r.variant}|${r.payload ?? ""}`
      groups.set(key, [...(groups.get(key) ?? []), r])
    }
    return [...groups.values()].map((g) => {
      const ok = g.filter((r) => r.check !== "error").sort((a, b) => by(a) - by(b))
      return ok.length === 0 ? g[0]! : { ...ok[Math.floor((ok.length - 1) / 2)]!, check: g.every((r) => r.check === "ok") ? "ok" : ok[0]!.check }
    })
  }
  const channelRows = medianRows(rows, (r) => r.throughput ?? 0)
  rows.length = 0
  rows.push(...channelRows)
  const medianPipeline = medianRows(pipelineRows, (r) => r.seconds ?? Infinity)
  pipelineRows.length = 0
  pipelineRows.push(...medianPipeline)
  const serialSeconds = pipelineRows.find((r) => r.variant === "serial")!.seconds!

  // Ratios: channels over per-element MessageChannel of the same payload; pipeline over serial.
  const withRatio = (row: Row): Row => {
    if (row.payload !== undefined) {
      const base = rows.find((r) => r.payload === row.payload && r.variant === "messagechannel/per-element")
      const ratio = base?.throughput && row.throughput ? round(row.throughput / base.throughput, 3) : null
      return { ...row, ratio }
    }
    const ratio = row.seconds !== null && serialSeconds > 0 ? round(serialSeconds / row.seconds, 3) : null
    return { ...row, ratio }
  }
  const results = [...rows, ...pipelineRows].map(withRatio)
  printTable(
    columns,
    results.map((r) => [
      r.variant,
      r.payload ?? "-",
      fmt(r.payload === undefined ? n : r.variant === "messagechannel/per-element" && r.payload === "float64" ? size.perElementNumbers : r.payload === "record" ? size.records : size.numbers),
      fmt(r.seconds, 3),
      fmt(r.throughput),
      r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
      fmt(r.peakRssMB),
      r.check
    ])
  )
  if (roundTripMicros !== undefined) {
    process.stdout.write(
      `\nround trip of one element between two workers, µs: effect-parallel/channel p50 ${roundTripMicros["effect-parallel/channel"].p50}, p99 ${roundTripMicros["effect-parallel/channel"].p99}; ` +
        `messagechannel p50 ${roundTripMicros.messagechannel.p50}, p99 ${roundTripMicros.messagechannel.p99}\n`
    )
  }
  for (const [variant, samples] of Object.entries(rssTenths)) {
    process.stdout.write(`RSS MB at every 10% (${variant}, ${n} images): ${samples.join(" ")}\n`)
  }
  if (longRunNote !== undefined) {
    process.stdout.write(
      `long run, effect-parallel/pipeline over ${fmt(size.elements)} light elements: ${fmt(longRunNote.seconds, 2)} s, ` +
        `RSS MB at every 10%: ${longRunNote.rssMBEvery10Percent.join(" ")} (check ${longRunNote.check})\n`
    )
  }
  const file = await writeRecord(makeRecord({
    scenario: "pipeline",
    baseline: "serial",
    results: results as ReadonlyArray<Result>,
    notes: {
      channelBaseline: "messagechannel/per-element (same payload)",
      elements: { records: size.records, float64: size.numbers, perElementFloat64: size.perElementNumbers, images: n },
      ...(longRunNote === undefined ? {} : { longRun: longRunNote }),
      ...(roundTripMicros === undefined ? {} : { roundTripMicros }),
      rssMBEvery10Percent: rssTenths,
      ...(Object.keys(errors).length > 0 ? { errors } : {})
    }
  }))
  process.stdout.write(`\nwrote ${file}\n`)
}
