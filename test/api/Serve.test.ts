/**
 * Model serving: a real server on an ephemeral loopback port, a real HTTP client (`node:http`, a
 * fresh connection per request), and a cheap model (`fixtures/serve-models.ts`) whose replicas
 * log the batch sizes they see. Batching, immediacy at low load, 503/504/400, a client that
 * leaves, a replica that crashes, drain under load and the metrics text. No timing asserts: where
 * a case needs replicas busy it makes them slow, and it checks what the replicas saw.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { gzipSync } from "node:zlib"
import { Serve, ServeError, SharedArray, WorkerPool } from "../../src/index.ts"
import { CRASH_MARKER, Doubler, ServeModels } from "../fixtures/serve-models.ts"
import { closedByServer, openLingering } from "../support/lingering.ts"

const entry = new URL("../fixtures/serve-worker.ts", import.meta.url)
const INPUT = 3

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: Buffer
}

/** One request on its own connection. */
const send = (
  url: string,
  path: string,
  options: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      agent: false,
      headers: {
        ...(typeof options.body === "string" ? { "content-type": "application/json" } : {}),
        ...options.headers
      }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(options.body)
  })

/** A request that declares `length` bytes of body, sends `part` of it and never the rest. */
const sendPartialBody = (url: string, path: string, part: string, length: number): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": String(length) }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
        req.destroy()
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    req.write(part)
  })

/**
 * A request sent as a client that asks `Expect: 100-continue` and waits: its headers only, then
 * what the server sends back before any body byte. On `100 Continue` the body follows and the
 * final answer is read too.
 */
const sendExpectingContinue = (
  url: string,
  path: string,
  body: string,
  headers: Record<string, string> = {}
): Promise<{ readonly first: string; readonly final: string }> =>
  new Promise((resolve, reject) => {
    const { port } = new URL(url)
    const socket = connect(Number(port), "127.0.0.1")
    let received = ""
    let first: string | undefined
    socket.on("error", reject)
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1")
      if (first === undefined && received.includes("\r\n\r\n")) {
        first = received.slice(0, received.indexOf("\r\n"))
        if (first.includes(" 100 ")) {
          received = received.slice(received.indexOf("\r\n\r\n") + 4)
          socket.write(body)
        }
      }
    })
    socket.on("close", () => resolve({ first: first ?? "", final: received }))
    const head = Object.entries({
      host: "localhost",
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
      expect: "100-continue",
      connection: "close",
      ...headers
    }).map(([name, value]) => `${name}: ${value}\r\n`).join("")
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`)
  })

const predict = (url: string, inputs: ReadonlyArray<ReadonlyArray<number>>, name = "doubler") =>
  Effect.promise(() => send(url, `/v1/models/${name}/predict`, { body: JSON.stringify({ inputs }) }))

const json = (reply: Reply) => JSON.parse(reply.body.toString("utf8"))

/** Batch sizes the replicas logged, in the order they started them. */
const sizes = (log: Int32Array) => Array.from(log.subarray(1, 1 + Math.min(Atomics.load(log, 0), log.length - 1)))

/** Polls until `check` holds; the test's timeout is the bound. */
const until = (check: () => boolean | Promise<boolean>) =>
  Effect.promise(async () => {
    while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20))
  })

const metric = async (url: string, pattern: RegExp): Promise<number | undefined> => {
  const text = (await send(url, "/metrics")).body.toString("utf8")
  const match = text.match(pattern)
  return match === null ? undefined : Number(match[1])
}

const deployment = (options: Partial<Parameters<typeof Serve.deployment<typeof Doubler, "predictBatch">>[1]> & {
  readonly init: Parameters<typeof Serve.deployment<typeof Doubler, "predictBatch">>[1]["init"]
}) =>
  Serve.deployment("doubler", {
    actor: Doubler,
    method: "predictBatch",
    inputSize: INPUT,
    timeout: "30 seconds",
    ...options
  })

const pool = WorkerPool.layer(ServeModels, { entry, size: 2 })

/** Runs `body` against a server of `deployments`, once `/readyz` says ready (unless `ready: false`). */
const withServer = <A, E>(
  deployments: ReadonlyArray<Serve.Deployment<typeof Doubler>>,
  body: (server: Serve.Server["Service"]) => Effect.Effect<A, E>,
  options: { readonly ready?: boolean; readonly drainTimeout?: Duration.Input } = {}
) =>
  Effect.gen(function*() {
    const server = yield* Serve.Server
    if (options.ready !== false) yield* until(async () => (await send(server.url, "/readyz")).status === 200)
    return yield* body(server)
  }).pipe(Effect.provide(Serve.layer(deployments, { port: 0, drainTimeout: options.drainTimeout }).pipe(Layer.provide(pool))))

describe("Serve", () => {
  it.live("answers JSON and binary predictions; health, readiness, OpenAPI and docs", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      yield* withServer([deployment({ init: { delayMillis: 0, log }, replicas: 2 })], ({ url }) =>
        Effect.gen(function*() {
          const reply = yield* predict(url, [[1, 2, 3], [4, 5, 6]])
          assert.strictEqual(reply.status, 200, reply.body.toString())
          assert.deepStrictEqual(json(reply), { outputs: [[6, 2], [15, 8]] })

          const binary = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: new Uint8Array(new Float32Array([1, 1, 1]).buffer),
              headers: { "content-type": "application/octet-stream" }
            })
          )
          assert.strictEqual(binary.status, 200)
          assert.strictEqual(binary.headers["content-type"], "application/octet-stream")
          assert.strictEqual(binary.headers["x-output-shape"], "1,2")
          assert.deepStrictEqual(Array.from(new Float32Array(new Uint8Array(binary.body).buffer)), [3, 2])
          // Media types are case-insensitive.
          const shouted = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: new Uint8Array(new Float32Array([1, 1, 1]).buffer),
              headers: { "content-type": "Application/Octet-Stream" }
            })
          )
          assert.strictEqual(shouted.status, 200, shouted.body.toString())
          assert.strictEqual(shouted.headers["x-output-shape"], "1,2")

          assert.deepStrictEqual(json(yield* Effect.promise(() => send(url, "/healthz"))), { status: "ok" })
          const ready = json(yield* Effect.promise(() => send(url, "/readyz")))
          assert.deepStrictEqual(ready, {
            ready: true,
            draining: false,
            deployments: { doubler: { replicas: 2, ready: 2, failures: [] } }
          })
          const spec = json(yield* Effect.promise(() => send(url, "/openapi.json")))
          assert.property(spec.paths, "/v1/models/{name}/predict")
          assert.property(spec.paths["/v1/models/{name}/predict"].post.responses, "503")
          const docs = yield* Effect.promise(() => send(url, "/docs"))
          assert.strictEqual(docs.status, 200)
          assert.include(docs.body.toString(), "<html")
          const missing = yield* predict(url, [[1, 2, 3]], "nope")
          assert.strictEqual(missing.status, 404)
        }))
    }).pipe(Effect.scoped))

  it.live("a request that finds a replica idle is sent at once, whatever maxWait", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      // Were the request held for maxWait (an hour), it would end in 504 at its 20 s deadline.
      const d = deployment({ init: { delayMillis: 0, log }, batching: { maxWait: "1 hour" }, timeout: "20 seconds" })
      yield* withServer([d], ({ url }) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            const reply = yield* predict(url, [[i, 0, 0]])
            assert.strictEqual(reply.status, 200, reply.body.toString())
          }
          assert.deepStrictEqual(sizes(log), [1, 1, 1])
        }))
    }).pipe(Effect.scoped))

  it.live("batches grow while the replica is busy; beyond the queue bound 503 with Retry-After at once", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      const d = deployment({
        init: { delayMillis: 1_500, log },
        maxQueued: 3,
        batching: { maxBatchSize: 8, maxWait: "1 hour" }
      })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          // The first goes at once and keeps the replica busy; the next three wait in one batch.
          const first = yield* Effect.forkChild(predict(url, [[1, 0, 0]]))
          yield* until(() => Atomics.load(log, 0) === 1)
          const waiting = yield* Effect.forkChild(
            Effect.all([predict(url, [[2, 0, 0]]), predict(url, [[3, 0, 0]]), predict(url, [[4, 0, 0], [5, 0, 0]])], {
              concurrency: "unbounded"
            })
          )
          yield* until(() => stats("doubler")!.queued === 3)
          const refused = yield* predict(url, [[9, 9, 9]])
          assert.strictEqual(refused.status, 503)
          assert.strictEqual(refused.headers["retry-after"], "1")
          assert.include(json(refused).error, "queue")
          assert.strictEqual((yield* Fiber.join(first)).status, 200)
          const batch = yield* Fiber.join(waiting)
          assert.deepStrictEqual(batch.map((r) => r.status), [200, 200, 200])
          assert.deepStrictEqual(json(batch[2]), { outputs: [[4, 8], [5, 10]] })
          assert.deepStrictEqual(sizes(log), [1, 4], "one batch of the four waiting items")
          assert.strictEqual(
            yield* Effect.promise(() => metric(url, /effect_parallel_serve_rejections_total\{[^}]*reason="queue_full"[^}]*\} (\d+)/)),
            1
          )
        }))
    }).pipe(Effect.scoped))

  it.live("admission by expected wait: a request the work ahead would keep past maxExpectedWait gets 503 at once (rule 7)", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      // One replica, one item per batch, ~1 s per batch: each item ahead is ~1 s of wait.
      const d = deployment({
        init: { delayMillis: 1_000, log },
        replicas: 1,
        maxQueued: 100,
        maxExpectedWait: "2500 millis",
        batching: { maxBatchSize: 1, maxBatchesPerReplica: 1 }
      })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          // Nothing measured yet: an idle deployment takes the request (and measures its batch).
          assert.strictEqual((yield* predict(url, [[1, 0, 0]])).status, 200)
          // 1 running and 1, then 2 waiting: 1 s and 2 s of work ahead, under the bound.
          const accepted = yield* Effect.forkChild(predict(url, [[2, 0, 0]]))
          yield* until(() => Atomics.load(log, 0) === 2)
          const second = yield* Effect.forkChild(predict(url, [[3, 0, 0]]))
          yield* until(() => stats("doubler")!.queued === 1)
          const third = yield* Effect.forkChild(predict(url, [[4, 0, 0]]))
          yield* until(() => stats("doubler")!.queued === 2)
          // 3 s ahead: refused now, though the queue has room for 98 more.
          const refused = yield* predict(url, [[9, 9, 9]])
          assert.strictEqual(refused.status, 503)
          assert.strictEqual(refused.headers["retry-after"], "1")
          assert.include(json(refused).error, "maxExpectedWait")
          for (const fiber of [accepted, second, third]) assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
          assert.deepStrictEqual(sizes(log), [1, 1, 1, 1], "the refused request was never computed")
          assert.strictEqual(
            yield* Effect.promise(() => metric(url, /effect_parallel_serve_rejections_total\{[^}]*reason="expected_wait"[^}]*\} (\d+)/)),
            1
          )
        }))
    }).pipe(Effect.scoped))

  it.live("a malformed body is a 400 naming the field; past its deadline a request is a 504", () =>
    Effect.gen(function*() {
      const d = deployment({ init: { delayMillis: 3_000 }, timeout: "300 millis" })
      yield* withServer([d], ({ url }) =>
        Effect.gen(function*() {
          const cases: ReadonlyArray<readonly [string, string]> = [
            ["{not json", "body"],
            [JSON.stringify({ inputs: [[1, 2, 3], [1, 2]] }), "inputs[1]"],
            [JSON.stringify({ inputs: [[1, "x", 3]] }), "inputs[0][1]"],
            [JSON.stringify({ inputz: [] }), "inputs"],
            [JSON.stringify({ input: [1, 2] }), "input"],
            [JSON.stringify({ inputs: [[1, 2, 3]], input: [1, 2, 3] }), "body"],
            [JSON.stringify({ inputs: Array.from({ length: 33 }, () => [1, 2, 3]) }), "inputs"]
          ]
          for (const [body, field] of cases) {
            const reply = yield* Effect.promise(() => send(url, "/v1/models/doubler/predict", { body }))
            assert.strictEqual(reply.status, 400, body)
            assert.strictEqual(json(reply).field, field, body)
            assert.include(json(reply).error, field)
          }
          const odd = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: new Uint8Array(10),
              headers: { "content-type": "application/octet-stream" }
            })
          )
          assert.strictEqual(odd.status, 400)
          assert.strictEqual(json(odd).field, "body")
          const late = yield* predict(url, [[1, 2, 3]])
          assert.strictEqual(late.status, 504)
          assert.include(json(late).error, "deadline")
          // The deadline counts from arrival: a body that never finishes coming is a 504 too.
          const stalled = yield* Effect.promise(() => sendPartialBody(url, "/v1/models/doubler/predict", `{"inputs": [[1, `, 100))
          assert.strictEqual(stalled.status, 504)
          assert.include(json(stalled).error, "deadline")
        }))
    }).pipe(Effect.scoped), 20_000)

  it.live("a body larger than a request's items can take is a 413, declared or chunked, and counted", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          // A full batch pretty-printed (indent 4, as Python's json.dumps(indent=4)), every number
          // as long as a double's shortest form gets: a valid request, within the bound.
          const pretty = JSON.stringify({ inputs: Array.from({ length: 32 }, () => [-1.2345678901234567e-20, -2.2345678901234567e-20, -3.2345678901234567e-20]) }, null, 4)
          const full = yield* Effect.promise(() => send(url, "/v1/models/doubler/predict", { body: pretty }))
          assert.strictEqual(full.status, 200, `${pretty.length} bytes: ${full.body.toString()}`)
          // 32 items of 3 numbers: at most 32 × 3 × 48 + 1024 = 5632 bytes.
          const body = JSON.stringify({ inputs: [[1, 2, 3]] }).padEnd(6_000, " ")
          const declared = yield* Effect.promise(() => send(url, "/v1/models/doubler/predict", { body }))
          // Without a content-length (chunked), the size is known only as the body comes.
          const chunked = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: new TextEncoder().encode(body),
              headers: { "content-type": "application/json", "transfer-encoding": "chunked" }
            })
          )
          for (const reply of [declared, chunked]) {
            assert.strictEqual(reply.status, 413, reply.body.toString())
            assert.strictEqual(json(reply).field, "body")
            assert.include(json(reply).error, "more than 32 items can take")
          }
          assert.strictEqual(
            yield* Effect.promise(() => metric(url, /effect_parallel_serve_requests_total\{[^}]*status="413"[^}]*\} (\d+)/)),
            2
          )
          assert.strictEqual((yield* predict(url, [[1, 2, 3]])).status, 200)
        }))
    }).pipe(Effect.scoped))

  it.live("a binary body of more items than a request may carry is a 413, declared or chunked", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          // 33 items of 3 float32s (396 bytes): one more than 32 items can take, well within the
          // bound of a JSON body of 32 items.
          const body = new Uint8Array(new Float32Array(33 * INPUT).fill(1).buffer)
          const headers = { "content-type": "application/octet-stream" }
          const declared = yield* Effect.promise(() => send(url, "/v1/models/doubler/predict", { body, headers }))
          const chunked = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", { body, headers: { ...headers, "transfer-encoding": "chunked" } })
          )
          for (const reply of [declared, chunked]) {
            assert.strictEqual(reply.status, 413, reply.body.toString())
            assert.strictEqual(json(reply).field, "body")
            assert.include(json(reply).error, "more than 32 items can take")
          }
          const full = new Uint8Array(new Float32Array(32 * INPUT).fill(1).buffer)
          assert.strictEqual((yield* Effect.promise(() => send(url, "/v1/models/doubler/predict", { body: full, headers }))).status, 200)
        }))
    }).pipe(Effect.scoped))

  it.live("Expect: 100-continue: a request that will be refused gets its refusal before it sends its body", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      const d = deployment({ init: { delayMillis: 1_500, log }, maxQueued: 1, batching: { maxBatchSize: 8, maxWait: "1 hour" } })
      const broken = Serve.deployment("broken", { actor: Doubler, method: "predictBatch", inputSize: INPUT, init: { delayMillis: 0, failInit: true } })
      yield* withServer([d, broken], ({ stats, url }) =>
        Effect.gen(function*() {
          yield* until(() => stats("doubler")!.status.ready === 1 && stats("broken")!.status.failures.length > 0)
          const body = JSON.stringify({ inputs: [[1, 2, 3]] })
          const path = "/v1/models/doubler/predict"
          const notReady = yield* Effect.promise(() => sendExpectingContinue(url, "/v1/models/broken/predict", body))
          assert.match(notReady.first, /^HTTP\/1\.1 503 /)
          assert.include(notReady.final, "not ready")
          const accepted = yield* Effect.promise(() => sendExpectingContinue(url, path, body))
          assert.include(accepted.first, " 100 ")
          assert.match(accepted.final, /^HTTP\/1\.1 200 /)
          const unknown = yield* Effect.promise(() => sendExpectingContinue(url, "/v1/models/nobody/predict", body))
          assert.match(unknown.first, /^HTTP\/1\.1 404 /)
          const large = yield* Effect.promise(() => sendExpectingContinue(url, path, body.padEnd(6_000, " ")))
          assert.match(large.first, /^HTTP\/1\.1 413 /)
          const unacceptable = yield* Effect.promise(() => sendExpectingContinue(url, path, body, { accept: "text/html" }))
          assert.match(unacceptable.first, /^HTTP\/1\.1 406 /)
          const compressed = yield* Effect.promise(() => sendExpectingContinue(url, path, body, { "content-encoding": "gzip" }))
          assert.match(compressed.first, /^HTTP\/1\.1 415 /)
          // The replica busy with one, the queue full with another: the next is refused.
          const busy = yield* Effect.forkChild(predict(url, [[1, 0, 0]]))
          yield* until(() => Atomics.load(log, 0) === 2)
          const queued = yield* Effect.forkChild(predict(url, [[2, 0, 0]]))
          yield* until(() => stats("doubler")!.queued === 1)
          const full = yield* Effect.promise(() => sendExpectingContinue(url, path, body))
          assert.match(full.first, /^HTTP\/1\.1 503 /)
          assert.include(full.final, "queue")
          assert.strictEqual((yield* Fiber.join(busy)).status, 200)
          assert.strictEqual((yield* Fiber.join(queued)).status, 200)
          assert.deepStrictEqual(sizes(log), [1, 1, 1], "nothing refused was computed")
        }), { ready: false })
    }).pipe(Effect.scoped))

  it.live("Accept picks the answer's format; one that allows neither JSON nor Float32 bytes is a 406, computed for no one", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      yield* withServer([deployment({ init: { delayMillis: 0, log } })], ({ url }) =>
        Effect.gen(function*() {
          const path = "/v1/models/doubler/predict"
          const jsonBody = JSON.stringify({ inputs: [[1, 1, 1]] })
          const bytes = new Uint8Array(new Float32Array([1, 1, 1]).buffer)
          const binaryHeaders = { "content-type": "application/octet-stream" }
          const asBinary = yield* Effect.promise(() =>
            send(url, path, { body: jsonBody, headers: { accept: "application/json;q=0.5, application/octet-stream" } })
          )
          assert.strictEqual(asBinary.headers["content-type"], "application/octet-stream")
          assert.deepStrictEqual(Array.from(new Float32Array(new Uint8Array(asBinary.body).buffer)), [3, 2])
          const asJson = yield* Effect.promise(() =>
            send(url, path, { body: bytes, headers: { ...binaryHeaders, accept: "application/octet-stream;q=0, */*" } })
          )
          assert.strictEqual(asJson.status, 200, asJson.body.toString())
          assert.deepStrictEqual(json(asJson), { outputs: [[3, 2]] })
          for (const accept of ["text/html", "application/json;q=0"]) {
            const refused = yield* Effect.promise(() => send(url, path, { body: jsonBody, headers: { accept } }))
            assert.strictEqual(refused.status, 406, `${accept}: ${refused.body.toString()}`)
            assert.include(json(refused).error, "application/json")
            assert.include(json(refused).error, "application/octet-stream")
          }
          assert.deepStrictEqual(sizes(log), [1, 1], "no refused request was computed")
          assert.strictEqual(
            yield* Effect.promise(() => metric(url, /effect_parallel_serve_requests_total\{[^}]*status="406"[^}]*\} (\d+)/)),
            2
          )
        }))
    }).pipe(Effect.scoped))

  it.live("a model's infinite outputs are answered as the strings Schema.Number uses, not null; as bytes, as they are", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          // The sum stays finite; twice the first number is past float32's range.
          const reply = yield* predict(url, [[3e38, 3e38, -3e38], [-3e38, 0, 0]])
          assert.strictEqual(reply.status, 200, reply.body.toString())
          assert.deepStrictEqual(json(reply), { outputs: [[Math.fround(3e38), "Infinity"], [Math.fround(-3e38), "-Infinity"]] })
          // As bytes, the infinities are themselves.
          const bytes = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: JSON.stringify({ inputs: [[3e38, 0, 0]] }),
              headers: { accept: "application/octet-stream" }
            })
          )
          assert.deepStrictEqual(Array.from(new Float32Array(new Uint8Array(bytes.body).buffer)), [Math.fround(3e38), Infinity])
        }))
    }).pipe(Effect.scoped))

  it.live("a compressed body is a 415 naming its Content-Encoding, not read as items", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      yield* withServer([deployment({ init: { delayMillis: 0, log } })], ({ url }) =>
        Effect.gen(function*() {
          const path = "/v1/models/doubler/predict"
          // 12 bytes, one item's worth: read as it comes, they would be three float32 numbers.
          const body = new Uint8Array(gzipSync(new Uint8Array(new Float32Array([1, 1, 1]).buffer)).subarray(0, 12))
          for (const encoding of ["gzip", "identity, br"]) {
            const reply = yield* Effect.promise(() =>
              send(url, path, { body, headers: { "content-type": "application/octet-stream", "content-encoding": encoding } })
            )
            assert.strictEqual(reply.status, 415, reply.body.toString())
            assert.include(json(reply).error, encoding)
          }
          for (const encoding of ["identity", "Identity, ", ""]) {
            const identity = yield* Effect.promise(() =>
              send(url, path, { body: JSON.stringify({ input: [1, 2, 3] }), headers: { "content-encoding": encoding } })
            )
            assert.strictEqual(identity.status, 200, `${JSON.stringify(encoding)}: ${identity.body.toString()}`)
          }
          assert.deepStrictEqual(sizes(log), [1, 1, 1], "no compressed body was computed")
        }))
    }).pipe(Effect.scoped))

  it.live("a predict path with a malformed percent-escape is a 404, and the server stays up", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          const bad = yield* Effect.promise(() =>
            send(url, "/v1/models/%E0%A4%A/predict", { body: JSON.stringify({ inputs: [[1, 2, 3]] }) })
          )
          assert.strictEqual(bad.status, 404, bad.body.toString())
          const good = yield* predict(url, [[1, 2, 3]])
          assert.strictEqual(good.status, 200, good.body.toString())
        }))
    }).pipe(Effect.scoped))

  it.live("a route asked with a method it does not answer is a 405 naming the methods in Allow", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          const cases: ReadonlyArray<readonly [string, string, string]> = [
            ["GET", "/v1/models/doubler/predict", "POST"],
            ["HEAD", "/v1/models/doubler/predict", "POST"],
            ["PUT", "/v1/models/doubler/predict/", "POST"],
            ["OPTIONS", "/v1/models/doubler/predict?x=1", "POST"],
            ["POST", "/healthz", "GET, HEAD"],
            ["DELETE", "/readyz", "GET, HEAD"],
            ["POST", "/metrics", "GET, HEAD"],
            ["PATCH", "/openapi.json", "GET, HEAD"],
            ["POST", "/docs", "GET, HEAD"],
            // Where the router serves a path (any case, doubled slashes, `;`), a wrong method is a 405 too.
            ["GET", "/V1/Models/doubler/PREDICT", "POST"],
            ["POST", "/HealthZ", "GET, HEAD"],
            ["DELETE", "/readyz//", "GET, HEAD"],
            ["POST", "/metrics;x", "GET, HEAD"]
          ]
          for (const [method, path, allow] of cases) {
            const reply = yield* Effect.promise(() => send(url, path, { method }))
            assert.strictEqual(reply.status, 405, `${method} ${path}: ${reply.status}`)
            assert.strictEqual(reply.headers["allow"], allow, `${method} ${path}`)
            if (method !== "HEAD") assert.include(json(reply).error, method)
          }
          // A path no route has stays a 404.
          assert.strictEqual((yield* Effect.promise(() => send(url, "/v1/models/doubler", { method: "GET" }))).status, 404)
        }))
    }).pipe(Effect.scoped))

  it.live("a deployment whose name is longer than 100 characters is served", () =>
    Effect.gen(function*() {
      const name = `model-${"x".repeat(120)}`
      const long = Serve.deployment(name, { actor: Doubler, method: "predictBatch", inputSize: INPUT, init: { delayMillis: 0 } })
      yield* withServer([long], ({ url }) =>
        Effect.gen(function*() {
          const reply = yield* predict(url, [[1, 2, 3]], name)
          assert.strictEqual(reply.status, 200, reply.body.toString())
          assert.deepStrictEqual(json(reply), { outputs: [[6, 2]] })
          // A POST of a longer name the router gives up on is no wrong method.
          const unknown = yield* predict(url, [[1, 2, 3]], `${name}${"y".repeat(200)}`)
          assert.strictEqual(unknown.status, 404, unknown.body.toString())
        }))
    }).pipe(Effect.scoped))

  it.live("/openapi.json describes the bodies the server accepts and every status it answers", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          const spec = json(yield* Effect.promise(() => send(url, "/openapi.json")))
          const resolve = (schema: any): any =>
            schema.$ref === undefined ? schema : spec.components.schemas[schema.$ref.split("/").pop()]
          const predictOp = spec.paths["/v1/models/{name}/predict"].post
          const request = resolve(predictOp.requestBody.content["application/json"].schema)
          // The server refuses null and the non-finite numbers: the spec must not offer them.
          assert.deepStrictEqual(request.properties.inputs.type, "array")
          assert.strictEqual(request.properties.inputs.minItems, 1)
          assert.deepStrictEqual(request.properties.inputs.items.items, { type: "number" })
          assert.deepStrictEqual(request.properties.input.items, { type: "number" })
          const response = resolve(predictOp.responses["200"].content["application/json"].schema)
          // A model's NaN and infinities are answered as strings: the spec says which.
          assert.deepStrictEqual(response.properties.outputs.items.items, {
            anyOf: [{ type: "number" }, { type: "string", enum: ["Infinity", "-Infinity", "NaN"] }]
          })
          for (const status of ["400", "404", "406", "413", "415", "500", "503", "504"]) {
            const problem = resolve(predictOp.responses[status].content["application/json"].schema)
            assert.deepStrictEqual(problem.properties.field, { type: "string" }, status)
          }
          // Each status the spec lists is one the server answers: 413 for a body too large.
          const tooLarge = yield* Effect.promise(() =>
            send(url, "/v1/models/doubler/predict", {
              body: JSON.stringify({ inputs: Array.from({ length: 1000 }, () => [1, 2, 3]) })
            })
          )
          assert.strictEqual(tooLarge.status, 413)
        }))
    }).pipe(Effect.scoped))

  it.live("a client that leaves before its batch is sent is taken out of it", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 64)
      const d = deployment({ init: { delayMillis: 1_500, log }, batching: { maxWait: "1 hour" } })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          const first = yield* Effect.forkChild(predict(url, [[1, 0, 0]]))
          yield* until(() => Atomics.load(log, 0) === 1)
          // A request that waits, then its client goes away.
          const leaving = httpRequest(new URL("/v1/models/doubler/predict", url), {
            method: "POST",
            agent: false,
            headers: { "content-type": "application/json" }
          })
          leaving.on("error", () => {})
          leaving.end(JSON.stringify({ inputs: [[7, 7, 7], [7, 7, 7]] }))
          yield* until(() => stats("doubler")!.queued === 1)
          leaving.destroy()
          yield* until(() => stats("doubler")!.queued === 0)
          const stays = yield* predict(url, [[2, 0, 0]])
          assert.strictEqual(stays.status, 200)
          yield* Fiber.join(first)
          assert.deepStrictEqual(sizes(log), [1, 1], "the leaving request's two items were never computed")
          assert.strictEqual(
            yield* Effect.promise(() => metric(url, /effect_parallel_serve_rejections_total\{[^}]*reason="client_gone"[^}]*\} (\d+)/)),
            1
          )
        }))
    }).pipe(Effect.scoped))

  it.live("a client that leaves while its body is still coming is counted as client_gone", () =>
    Effect.gen(function*() {
      yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          // `Expect: 100-continue`: the server says "continue" when its route starts reading the body.
          yield* Effect.promise(() =>
            new Promise<void>((resolve, reject) => {
              const req = httpRequest(new URL("/v1/models/doubler/predict", url), {
                method: "POST",
                agent: false,
                headers: { "content-type": "application/json", "content-length": "100", expect: "100-continue" }
              })
              req.on("error", () => {})
              req.on("response", () => reject(new Error("answered before the body came")))
              req.on("continue", () => {
                req.write(`{"inputs": [[1,`)
                req.destroy()
                resolve()
              })
              req.flushHeaders()
            })
          )
          yield* until(async () =>
            (await metric(url, /effect_parallel_serve_rejections_total\{[^}]*reason="client_gone"[^}]*\} (\d+)/)) === 1
          )
          assert.strictEqual((yield* predict(url, [[1, 2, 3]])).status, 200)
        }))
    }).pipe(Effect.scoped))

  it.live("a replica that dies mid-batch fails only that batch with 503, and is restarted", () =>
    Effect.gen(function*() {
      const crashOnce = yield* SharedArray.make("Int32", 1)
      const d = deployment({ init: { delayMillis: 0, crashOnce }, replicas: 2, restart: { maxRestarts: 2, backoff: "10 millis" } })
      yield* withServer([d], ({ url }) =>
        Effect.gen(function*() {
          const crashed = yield* predict(url, [[CRASH_MARKER, 0, 0]])
          assert.strictEqual(crashed.status, 503)
          assert.include(json(crashed).error, "was lost")
          assert.strictEqual(crashed.headers["retry-after"], "1")
          // Every later request is answered: the other replica, and the rebuilt one.
          for (let i = 0; i < 6; i++) {
            const reply = yield* predict(url, [[i, 1, 1]])
            assert.strictEqual(reply.status, 200, reply.body.toString())
            assert.deepStrictEqual(json(reply), { outputs: [[i + 2, 2 * i]] })
          }
        }))
    }).pipe(Effect.scoped))

  it.live("retryOnReplicaLoss sends the lost batch once more, to another replica", () =>
    Effect.gen(function*() {
      const crashOnce = yield* SharedArray.make("Int32", 1)
      const d = deployment({
        init: { delayMillis: 300, crashOnce },
        replicas: 2,
        retryOnReplicaLoss: true,
        restart: { maxRestarts: 2, backoff: "10 millis" }
      })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          const request = yield* Effect.forkChild(predict(url, [[CRASH_MARKER, 0, 0]]))
          // Batcher rule 6: while the retry runs (300 ms on the other replica) it is in flight there,
          // beside the lost batch's own count.
          yield* until(() => stats("doubler")!.batchesInFlight === 2).pipe(
            Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("the retry was never counted in flight") })
          )
          const reply = yield* Fiber.join(request)
          assert.strictEqual(reply.status, 200, reply.body.toString())
          assert.deepStrictEqual(json(reply), { outputs: [[CRASH_MARKER, 2 * CRASH_MARKER]] })
          assert.strictEqual(Atomics.load(crashOnce, 0), 1, "the first replica did crash")
          yield* until(() => stats("doubler")!.batchesInFlight === 0)
        }))
    }).pipe(Effect.scoped))

  it.live("retryOnReplicaLoss: a replica out of restarts leaves the batcher and /readyz even when the retry succeeds", () =>
    Effect.gen(function*() {
      const crashOnce = yield* SharedArray.make("Int32", 1)
      const log = yield* SharedArray.make("Int32", 64)
      const d = deployment({
        init: { delayMillis: 0, crashOnce, log },
        replicas: 2,
        retryOnReplicaLoss: true,
        restart: { maxRestarts: 0 }
      })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          // /readyz answers 200 with one replica ready: wait for both, so the crash is replica 0's.
          yield* until(() => stats("doubler")!.status.ready === 2)
          const crashed = yield* predict(url, [[CRASH_MARKER, 0, 0]])
          assert.strictEqual(crashed.status, 200, crashed.body.toString())
          for (let i = 0; i < 4; i++) {
            const reply = yield* predict(url, [[i, 1, 1]])
            assert.strictEqual(reply.status, 200, reply.body.toString())
          }
          // Replica 0 died with no restart left: it serves no more batches, and says so.
          const status = stats("doubler")!.status
          assert.strictEqual(status.ready, 1, JSON.stringify(status))
          assert.strictEqual(status.failures.length, 1, JSON.stringify(status))
          assert.include(status.failures[0]!, "replica 0")
        }))
    }).pipe(Effect.scoped))

  // Was: a replica whose actor died out of restarts stayed ready until a batch was sent to it, and
  // that batch failed (503) while the other replica was idle.
  it.live("a replica out of restarts leaves the batcher as it dies, before any batch is sent to it", () =>
    Effect.gen(function*() {
      const crashOnce = yield* SharedArray.make("Int32", 1)
      const d = deployment({ init: { delayMillis: 0, crashOnce }, replicas: 2, restart: { maxRestarts: 0 } })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          yield* until(() => stats("doubler")!.status.ready === 2)
          const crashed = yield* predict(url, [[CRASH_MARKER, 0, 0]])
          assert.strictEqual(crashed.status, 503, crashed.body.toString())
          yield* until(() => stats("doubler")!.status.ready === 1).pipe(
            Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("the dead replica stayed ready") })
          )
          assert.include(stats("doubler")!.status.failures[0]!, "replica 0")
          for (let i = 0; i < 4; i++) {
            const reply = yield* predict(url, [[i, 1, 1]])
            assert.strictEqual(reply.status, 200, reply.body.toString())
          }
        }))
    }).pipe(Effect.scoped))

  it.live("when the last replica is out of restarts, the requests still queued are answered 503 at once", () =>
    Effect.gen(function*() {
      const crashOnce = yield* SharedArray.make("Int32", 1)
      const d = deployment({
        init: { delayMillis: 500, crashOnce },
        replicas: 1,
        batching: { maxBatchSize: 1, maxBatchesPerReplica: 1 },
        restart: { maxRestarts: 0 },
        // Were the queued requests left to their deadline, they would be 504s, well after the test's.
        timeout: "10 minutes"
      })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          // Admitted while the replica is ready (its head goes before the first request's, which the
          // replica is running below); its body ends once the replica is gone.
          const body = JSON.stringify({ inputs: [[4, 0, 0]] })
          let finish = (): void => {}
          const slow = new Promise<Reply>((resolve, reject) => {
            const req = httpRequest(new URL("/v1/models/doubler/predict", url), {
              method: "POST",
              agent: false,
              headers: { "content-type": "application/json", "content-length": String(body.length) }
            }, (res) => {
              const chunks: Array<Buffer> = []
              res.on("data", (chunk: Buffer) => chunks.push(chunk))
              res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
            })
            req.on("error", reject)
            req.write(body.slice(0, 5))
            finish = () => void req.end(body.slice(5))
          })
          const first = yield* Effect.forkChild(predict(url, [[1, 0, 0]]))
          yield* until(() => stats("doubler")!.batchesInFlight === 1)
          // Queued one batch each behind the first: the crash, then two the dead replica never gets.
          const crash = yield* Effect.forkChild(predict(url, [[CRASH_MARKER, 0, 0]]))
          yield* until(() => stats("doubler")!.queued === 1)
          const rest = yield* Effect.forkChild(Effect.all([predict(url, [[2, 0, 0]]), predict(url, [[3, 0, 0]])], {
            concurrency: "unbounded"
          }))
          yield* until(() => stats("doubler")!.queued === 3)
          assert.strictEqual((yield* Fiber.join(first)).status, 200)
          assert.strictEqual((yield* Fiber.join(crash)).status, 503)
          for (const reply of yield* Fiber.join(rest)) {
            assert.strictEqual(reply.status, 503, reply.body.toString())
            assert.strictEqual(reply.headers["retry-after"], "1")
          }
          assert.strictEqual(stats("doubler")!.status.ready, 0)
          assert.strictEqual(stats("doubler")!.queued, 0)
          finish()
          const late = yield* Effect.promise(() => slow)
          assert.strictEqual(late.status, 503, late.body.toString())
          assert.include(json(late).error, "not ready")
        }))
    }).pipe(Effect.scoped))

  it.live("a replica whose constructor fails shows in /readyz; the server stays up", () =>
    Effect.gen(function*() {
      const d = deployment({ init: { delayMillis: 0, failInit: true }, replicas: 1 })
      yield* withServer([d], ({ stats, url }) =>
        Effect.gen(function*() {
          yield* until(() => stats("doubler")!.status.failures.length === 1)
          const ready = yield* Effect.promise(() => send(url, "/readyz"))
          assert.strictEqual(ready.status, 503)
          assert.include(json(ready).deployments.doubler.failures[0], "model file is corrupt")
          const refused = yield* predict(url, [[1, 2, 3]])
          assert.strictEqual(refused.status, 503)
          assert.include(json(refused).error, "model file is corrupt")
          assert.strictEqual((yield* Effect.promise(() => send(url, "/healthz"))).status, 200)
        }), { ready: false })
    }).pipe(Effect.scoped))

  it.live("closing drains under load: every accepted request answered, new connections refused, nothing computed unanswered", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 4096)
      const d = deployment({ init: { delayMillis: 20, log }, replicas: 2, maxQueued: 10_000 })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Serve.layer([d], { port: 0 }).pipe(Layer.provide(pool)), scope)
      const { url } = Context.get(context, Serve.Server)
      yield* until(async () => (await send(url, "/readyz")).status === 200)

      const statuses: Array<number> = []
      const refusals: Array<string> = []
      let stop = false
      const client = async (id: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const reply = await send(url, "/v1/models/doubler/predict", { body: JSON.stringify({ input: [id, i, 0] }) })
            statuses.push(reply.status)
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? String(error)
            refusals.push(code)
            // Refused at the door: the server is gone.
            if (code === "ECONNREFUSED") return
          }
        }
      }
      const clients = Promise.all(Array.from({ length: 16 }, (_, id) => client(id)))
      yield* until(() => statuses.length >= 50)
      const answeredAtClose = statuses.length
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* until(() => refusals.includes("ECONNREFUSED"))
      stop = true
      yield* Effect.promise(() => clients)
      yield* Fiber.join(closing)
      // Every request the server read got an answer: 200, or 503 from the drain itself.
      for (const status of statuses) assert.include([200, 503], status)
      assert.deepStrictEqual(
        refusals.filter((code) => code !== "ECONNREFUSED" && code !== "ECONNRESET"),
        [],
        "no request was cut off"
      )
      const computed = sizes(log).reduce((a, b) => a + b, 0)
      const ok = statuses.filter((s) => s === 200).length
      assert.strictEqual(computed, ok, "every computed item was answered with 200, and every 200 was computed")
      assert.isAbove(ok, 50)
      assert.isAbove(statuses.length, answeredAtClose, "requests in flight when the close began were answered after it")
    }))

  it.live("closing turns draining at once: new connections are refused while an accepted request is still answered", () =>
    Effect.gen(function*() {
      const log = yield* SharedArray.make("Int32", 8)
      const d = deployment({ init: { delayMillis: 3_000, log }, replicas: 1 })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Serve.layer([d], { port: 0 }).pipe(Layer.provide(pool)), scope)
      const { url } = Context.get(context, Serve.Server)
      yield* until(async () => (await send(url, "/readyz")).status === 200)
      const accepted = yield* Effect.forkChild(predict(url, [[1, 2, 3]]))
      yield* until(() => Atomics.load(log, 0) === 1)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      // Readiness goes from 200 to 503 (draining) or straight to a refused connection; never back.
      const seen: Array<number | string> = []
      yield* until(async () => {
        const outcome = await send(url, "/readyz").then((reply) => reply.status, (e) => e.code as string)
        seen.push(outcome)
        return outcome === "ECONNREFUSED"
      })
      const afterClose = seen.slice(seen.findIndex((outcome) => outcome !== 200))
      for (const outcome of afterClose) assert.include([503, "ECONNREFUSED"], outcome, String(seen))
      // The port is closed while the model still computes the accepted request (3 s).
      assert.isUndefined(accepted.pollUnsafe(), "the accepted request is still in flight")
      const reply = yield* Fiber.join(accepted)
      assert.strictEqual(reply.status, 200)
      assert.deepStrictEqual(json(reply), { outputs: [[6, 2]] })
      assert.strictEqual(reply.headers["connection"], "close", "answered while draining")
      yield* Fiber.join(closing)
    }))

  it.live("connections still open when the server's scope closes are closed with it", () =>
    Effect.gen(function*() {
      const sockets = yield* withServer([deployment({ init: { delayMillis: 0 } })], ({ url }) =>
        Effect.gen(function*() {
          const sockets = yield* openLingering(Number(new URL(url).port), "/healthz")
          // Both reached the server before its scope closes.
          assert.strictEqual((yield* Effect.promise(() => send(url, "/healthz"))).status, 200)
          return sockets
        }), { drainTimeout: "1 second" })
      assert.isTrue(yield* closedByServer(sockets), "the server closed both connections")
    }).pipe(Effect.scoped), 40_000)

  it.live("/metrics has requests by status, batch sizes, queue wait, batch run time, queue depth", () =>
    Effect.gen(function*() {
      const d = deployment({ init: { delayMillis: 0 } })
      yield* withServer([d], ({ url }) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* predict(url, [[1, 2, 3], [1, 2, 3]])).status, 200)
          assert.strictEqual((yield* predict(url, [[1, 2]])).status, 400)
          const text = (yield* Effect.promise(() => send(url, "/metrics"))).body.toString()
          assert.match(text, /effect_parallel_serve_requests_total\{[^}]*status="200"[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_requests_total\{[^}]*status="400"[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_batch_size_bucket\{[^}]*le="2"[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_batch_size_count\{[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_queue_wait_seconds_count\{[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_batch_run_seconds_count\{[^}]*\} 1/)
          assert.match(text, /effect_parallel_serve_queue_depth\{[^}]*deployment="doubler"[^}]*\} 0/)
        }))
    }).pipe(Effect.scoped))

  it.live("bad options fail the Layer with InvalidDeployment naming the option", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        withServer([deployment({ init: { delayMillis: 0 }, batching: { maxBatchSize: 0 } })], () => Effect.void)
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, ServeError.ServeError)
      const reason = (error as ServeError.ServeError).reason
      assert.strictEqual(reason._tag, "InvalidDeployment")
      assert.deepStrictEqual((reason as ServeError.InvalidDeployment).path, ["batching", "maxBatchSize"])
      assert.include((error as ServeError.ServeError).message, "batching.maxBatchSize: must be a positive integer", "what a log shows")
    }))

  it.live("a port that is not one fails the Layer with ListenFailed, not a defect", () =>
    Effect.gen(function*() {
      for (const port of [-1, 65_536, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(
          Effect.provide(Effect.void, Serve.layer([deployment({ init: { delayMillis: 0 } })], { port }).pipe(Layer.provide(pool)))
        )
        assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause), `port ${port}`)
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(error, ServeError.ServeError, `port ${port}`)
        assert.strictEqual((error as ServeError.ServeError).reason._tag, "ListenFailed")
      }
    }), 30_000)

  it.live("a drainTimeout that is no drain fails the Layer with InvalidOptions before any replica starts", () =>
    Effect.gen(function*() {
      for (const drainTimeout of [Number.NaN, -1, "soon" as never, "30 days"] as const) {
        const exit = yield* Effect.exit(
          withServer([deployment({ init: { delayMillis: 0 } })], () => Effect.void, { ready: false, drainTimeout })
        )
        assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause), String(drainTimeout))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(error, ServeError.ServeError, String(drainTimeout))
        const reason = (error as ServeError.ServeError).reason
        assert.strictEqual(reason._tag, "InvalidOptions", String(drainTimeout))
        assert.deepStrictEqual((reason as ServeError.InvalidOptions).path, ["drainTimeout"])
      }
    }), 30_000)

  it.live("a bad restart policy, a NaN duration, a maxWait past the timer's range: InvalidDeployment", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Partial<Parameters<typeof deployment>[0]>, ReadonlyArray<string>]> = [
        [{ restart: { maxRestarts: -1 } }, ["restart", "maxRestarts"]],
        [{ restart: { maxRestarts: Number.NaN } }, ["restart", "maxRestarts"]],
        [{ restart: { maxRestarts: 1, backoff: Number.NaN } }, ["restart", "backoff"]],
        [{ restart: { maxRestarts: 1, maxBackoff: "soon" as never } }, ["restart", "maxBackoff"]],
        [{ maxExpectedWait: Number.NaN }, ["maxExpectedWait"]],
        [{ batching: { maxWait: Number.NaN } }, ["batching", "maxWait"]],
        // Past setTimeout's range: the batcher's timer would fire at once.
        [{ batching: { maxWait: "30 days" } }, ["batching", "maxWait"]]
      ]
      for (const [options, path] of cases) {
        const exit = yield* Effect.exit(
          withServer([deployment({ init: { delayMillis: 0 }, ...options })], () => Effect.void, { ready: false })
        )
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(error, ServeError.ServeError, JSON.stringify(path))
        const reason = (error as ServeError.ServeError).reason
        assert.strictEqual(reason._tag, "InvalidDeployment")
        assert.deepStrictEqual((reason as ServeError.InvalidDeployment).path, path)
      }
    }), 30_000)
})
