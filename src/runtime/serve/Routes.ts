/**
 * The serving routes on `effect/http`'s `HttpRouter`: predict, health, readiness, metrics,
 * OpenAPI and docs, over the state of the deployments a server holds.
 *
 * A predict request goes: draining or not ready → `503` at once; a compressed body → `415`, an
 * `Accept` that allows neither answer → `406`, and one too large by its `Content-Length` → `413`, unread; body → items or `400` naming the
 * field; the batcher's queue → `503` with `Retry-After` when full; its batch's answer, or `504`
 * at its deadline. An interrupted request (its client left, or its deadline passed) is taken out
 * of the queue by the batcher's `cancel`, so no replica computes it.
 */
import * as ByteSize from "effect/ByteSize"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as FindMyWay from "effect/http/FindMyWay"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as OpenApi from "effect/http-api/OpenApi"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import { ServeApi } from "./Api.ts"
import type { Batcher, Outcome, Refusal } from "./Batcher.ts"
import { encodeJson, maxBodyBytes, negotiate, parseBinary, parseJson } from "./Body.ts"
import type { DeploymentMetrics } from "./ServeMetrics.ts"

/** What `/readyz` says of a deployment. */
export interface DeploymentStatus {
  readonly replicas: number
  readonly ready: number
  /** Why replicas could not be built (constructor failures), newest last. */
  readonly failures: ReadonlyArray<string>
}

export interface DeploymentRuntime {
  readonly name: string
  readonly inputSize: number
  /** Items one request may carry (the batch size: a request is never split). */
  readonly maxItems: number
  readonly timeoutMillis: number
  readonly batcher: Batcher
  readonly metrics: DeploymentMetrics
  readonly status: () => DeploymentStatus
}

export interface ServingState {
  readonly deployments: ReadonlyMap<string, DeploymentRuntime>
  /** Set first when the server closes: readiness and new predictions answer 503 from then on. */
  draining: boolean
}

/** What a 503 from the batcher says. */
export const refusalMessage = (deployment: DeploymentRuntime, refusal: Refusal): string =>
  refusal === "closed"
    ? "the server is shutting down"
    : refusal === "queue_full"
    ? `the queue of ${deployment.name} is full`
    : `${deployment.name} is overloaded: the work ahead of this request would take about ${
      Math.round(deployment.batcher.expectedWaitMillis())
    } ms, more than its maxExpectedWait`

/** The predict route, as the router and the server's early refusal (NodeServer.ts) match it. */
export const predictRoute = "/v1/models/:name/predict"

/** Seconds a refused client is told to wait. */
const retryAfterSeconds = "1"

export const routes = (state: ServingState): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  Layer.mergeAll(
    HttpRouter.add("POST", predictRoute, predict(state)),
    HttpRouter.add("GET", "/healthz", HttpServerResponse.jsonUnsafe({ status: "ok" })),
    HttpRouter.add("GET", "/readyz", Effect.sync(() => readiness(state))),
    HttpRouter.add("GET", "/openapi.json", Effect.sync(() => HttpServerResponse.jsonUnsafe(OpenApi.fromApi(ServeApi)))),
    HttpApiScalar.layer(ServeApi, { path: "/docs" }),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    HttpRouter.middleware(methodNotAllowed, { global: true })
  )

/**
 * Each route's methods, for a 405's `Allow` (HEAD is answered wherever GET is), matched by the
 * router's own matcher with its options, so a path the router serves (in any case, with doubled
 * slashes, a trailing slash, `;`) is known here too. Any length of deployment name is taken: a
 * POST the router did not find (a name past its maxParamLength) has an allowed method, so it
 * stays a 404.
 */
const routeMethods = (() => {
  const table = FindMyWay.make<string>({ maxParamLength: Infinity })
  table.on("POST", predictRoute, "POST")
  for (const path of ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] as const) table.on("GET", path, "GET, HEAD")
  return table
})()

const allowedMethods = (method: string, url: string): string | undefined => {
  const allow = routeMethods.find("GET", url)?.handler ?? routeMethods.find("POST", url)?.handler
  return allow === undefined || allow.split(", ").includes(method) ? undefined : allow
}

/**
 * A known route asked with another method is a 405 naming the route's methods (RFC 9110 §15.5.6),
 * not the router's empty 404, which reads as a wrong URL (a `GET` of the predict route).
 */
const methodNotAllowed = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  Effect.catchIf(
    handler,
    (error): error is E & HttpServerError.HttpServerError =>
      HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound" &&
      allowedMethods(error.reason.request.method, error.reason.request.url) !== undefined,
    (error) => {
      const { method, url } = error.reason.request
      const allow = allowedMethods(method, url)!
      return Effect.succeed(HttpServerResponse.jsonUnsafe(
        { error: `${method} is not allowed on ${url.replace(/[?;#].*$/, "")}: use ${allow}` },
        { status: 405, headers: { allow } }
      ))
    }
  )

const readiness = (state: ServingState) => {
  const deployments: Record<string, DeploymentStatus> = {}
  let ready = !state.draining
  for (const [name, deployment] of state.deployments) {
    const status = deployment.status()
    deployments[name] = status
    if (status.ready === 0) ready = false
  }
  return HttpServerResponse.jsonUnsafe({ ready, draining: state.draining, deployments }, { status: ready ? 200 : 503 })
}

const problem = (status: number, error: string, extra?: { field?: string; retry?: boolean; close?: boolean }) =>
  HttpServerResponse.jsonUnsafe(extra?.field === undefined ? { error } : { error, field: extra.field }, {
    status,
    headers: {
      ...(extra?.retry === true ? { "retry-after": retryAfterSeconds } : {}),
      ...(extra?.close === true ? { connection: "close" } : {})
    }
  })

const predict = (state: ServingState) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { name } = yield* HttpRouter.params
    const deployment = state.deployments.get(name ?? "")
    if (deployment === undefined) {
      return problem(404, `no deployment named ${JSON.stringify(name)} (serving: ${[...state.deployments.keys()].join(", ")})`)
    }
    // The deadline counts from arrival: a body that is slow to come takes from it too.
    const arrived = performance.now()
    const remainingMillis = () => deployment.timeoutMillis - (performance.now() - arrived)
    const { batcher, metrics } = deployment
    const answer = (response: HttpServerResponse.HttpServerResponse) => {
      metrics.answered(response.status)
      // While draining, answered connections close: the server is waiting for them to go.
      return state.draining ? HttpServerResponse.setHeader(response, "connection", "close") : response
    }
    if (state.draining) {
      metrics.rejected("draining")
      return answer(problem(503, "the server is shutting down", { retry: true }))
    }
    const notReady = () => {
      const status = deployment.status()
      if (status.ready > 0) return undefined
      metrics.rejected("not_ready")
      const why = status.failures.length > 0 ? `: ${status.failures[status.failures.length - 1]}` : " yet"
      return answer(problem(503, `model ${deployment.name} is not ready${why}`, { retry: true }))
    }
    const unready = notReady()
    if (unready !== undefined) return unready
    // A full queue refuses before the body is read: the refusal costs the server almost nothing.
    const refusal = batcher.refusal()
    if (refusal !== undefined) {
      metrics.rejected(refusal === "closed" ? "draining" : refusal)
      return answer(problem(503, refusalMessage(deployment, refusal), { retry: true }))
    }
    const declared = Number(request.headers["content-length"] ?? 0)
    // Media types are case-insensitive (RFC 9110 §8.3.1).
    const binary = (request.headers["content-type"] ?? "").toLowerCase().startsWith("application/octet-stream")
    // A compressed body is not decoded: read as it comes, gzip bytes can pass for Float32 items.
    const encoding = request.headers["content-encoding"]
    // A list's empty elements are no coding (RFC 9110 §5.6.1).
    if (encoding !== undefined && !encoding.split(",").every((coding) => ["", "identity"].includes(coding.trim().toLowerCase()))) {
      return answer(problem(415, `Content-Encoding: ${encoding} is not supported: send the body uncompressed`, { field: "body" }))
    }
    // Known from the headers: refused before the body is read, as the other refusals.
    const format = negotiate(request.headers["accept"], binary)
    if (format === undefined) {
      const accept = request.headers["accept"]!
      return answer(problem(
        406,
        `Accept: ${accept.length > 200 ? `${accept.slice(0, 200)}…` : accept} allows neither answer: application/json or application/octet-stream`
      ))
    }
    // A binary body has an exact bound: one past it is refused unread, as a JSON one past its own.
    const limit = maxBodyBytes(deployment.inputSize, deployment.maxItems, binary)
    // The rest of the body is not read: the connection closes rather than take it.
    const tooLarge = (size: string) =>
      answer(problem(413, `body: ${size} is more than ${deployment.maxItems} items can take`, { field: "body", close: true }))
    if (declared > limit) return tooLarge(`${declared} bytes`)
    // Bodies without a content-length (chunked) are bounded while they are read.
    const bounded = <A, E, R>(read: Effect.Effect<A, E, R>) =>
      Effect.provideService(read, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit))
    // Read apart from the deadline: interrupting a read destroys the socket, and with it the 504.
    // A read left behind never ends (Node ends no request once its answer is sent), but nothing
    // holds it after its connection, which a 504 closes, is gone: it is collected with it.
    const reading = yield* Effect.forkDetach(
      (binary
        ? Effect.map(bounded(request.arrayBuffer), (bytes) => parseBinary(bytes, deployment.inputSize, deployment.maxItems))
        : Effect.map(bounded(request.text), (text) => parseJson(text, deployment.inputSize, deployment.maxItems))).pipe(
          // Answered here, not by the platform: a chunked body past the limit is a 413 like a declared
          // one, and every answer is counted.
          Effect.catchTag("HttpServerError", (error) =>
            Effect.succeed<Unreadable>({
              _tag: "Unreadable",
              tooLarge: error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge",
              message: error.message
            }))
        )
    )
    const read = yield* Fiber.join(reading).pipe(
      Effect.timeoutOption(Math.max(0, remainingMillis())),
      // Its client left mid-body: given up, as one that leaves while its request waits.
      Effect.onInterrupt(() => Effect.andThen(Fiber.interrupt(reading), Effect.sync(() => metrics.rejected("client_gone"))))
    )
    const pastDeadline = (unreadBody: boolean) => {
      metrics.rejected("deadline")
      // A body still coming would hold the connection: it is closed instead of read to its end.
      return answer(problem(504, `no answer within the deadline of ${deployment.timeoutMillis} ms`, { close: unreadBody }))
    }
    if (read._tag === "None") return pastDeadline(true)
    const parsed = read.value
    if (parsed._tag === "Unreadable") {
      return parsed.tooLarge
        ? tooLarge(`over ${limit} bytes`)
        : answer(problem(400, `body: could not be read (${parsed.message})`, { field: "body" }))
    }
    if (parsed._tag === "Issue") {
      return answer(problem(400, `${parsed.issue.field}: ${parsed.issue.message}`, { field: parsed.issue.field }))
    }
    if (remainingMillis() <= 0) return pastDeadline(false)
    // Its last replica may have died while the body came: queued now, it would wait for its deadline.
    const unreadyNow = notReady()
    if (unreadyNow !== undefined) return unreadyNow
    const outcome = yield* Effect.callback<Outcome | Refusal>((resume) => {
      const pending = batcher.offer(parsed.rows, parsed.input, (outcome) => resume(Effect.succeed(outcome)))
      if (pending === undefined) return resume(Effect.succeed(batcher.refusal() ?? "queue_full"))
      // Interrupted (deadline, client gone): out of the queue, so no replica computes it.
      return Effect.sync(() => void batcher.cancel(pending))
    }).pipe(
      Effect.timeoutOption(remainingMillis()),
      Effect.onInterrupt(() => Effect.sync(() => metrics.rejected("client_gone")))
    )
    if (outcome._tag === "None") return pastDeadline(false)
    const value = outcome.value
    if (typeof value === "string") {
      metrics.rejected(value === "closed" ? "draining" : value)
      return answer(problem(503, refusalMessage(deployment, value), { retry: true }))
    }
    if (value._tag === "Failure") return answer(problem(value.status, value.message, { retry: value.status === 503 }))
    return answer(
      format === "binary"
        ? HttpServerResponse.uint8Array(new Uint8Array(value.output.buffer, value.output.byteOffset, value.output.byteLength), {
          contentType: "application/octet-stream",
          headers: { "x-output-shape": `${parsed.rows},${value.width}` }
        })
        : HttpServerResponse.text(encodeJson(value.output, value.width), { contentType: "application/json" })
    )
  })

/** A body that could not be read: larger than the limit (chunked), or cut off. */
interface Unreadable {
  readonly _tag: "Unreadable"
  readonly tooLarge: boolean
  readonly message: string
}
