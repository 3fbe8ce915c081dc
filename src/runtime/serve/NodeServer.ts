/**
 * The serving routes on a Node HTTP server for a Scope, with a graceful drain when it closes.
 *
 * Loaded only by a program that serves (`import()`), so that `@effect/platform-node`, an optional
 * peer dependency, is needed only then.
 *
 * Closing the Scope, in order: `state.draining` is set (`/readyz` and new predictions answer 503,
 * answered connections close); the listening socket closes (new connections are refused); the
 * server waits up to `drainTimeout` for every accepted request to be answered; then it closes
 * the connections left and interrupts their handlers. The deployments, acquired before the
 * server, are released after it.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FindMyWay from "effect/http/FindMyWay"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import type { ServeError } from "effect/http/HttpServerError"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { predictRoute, refusalMessage, routes, type ServingState } from "./Routes.ts"

export interface NodeServerOptions {
  /** 0 picks a free port. */
  readonly port: number
  readonly host: string
  readonly drainTimeoutMillis: number
}

/** Starts the server and returns its URL (`http://host:port`). */
export const start = (state: ServingState, options: NodeServerOptions): Effect.Effect<string, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    // The platform's close waits up to the drain timeout for the connections, then leaves those
    // still open (one with no request yet, half a request) alive until Node's own timeouts (a
    // minute): closed here, last, so the scope leaves no socket behind.
    let node: Server | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => node?.closeAllConnections()))
    // The router refuses a path parameter longer than 100 characters: a longer deployment name
    // (one is valid) would be unreachable.
    const maxParamLength = Math.max(100, ...[...state.deployments.keys()].map((name) => name.length))
    const server = NodeHttpServer.layer(
      () => (node = refusingEarly(createServer({ keepAliveTimeout: 5_000 }), state, maxParamLength)),
      { port: options.port, host: options.host, gracefulShutdownTimeout: options.drainTimeoutMillis }
    )
    const app = HttpRouter.serve(routes(state), { disableLogger: true, disableListenLog: true, routerConfig: { maxParamLength } })
    const context = yield* Layer.build(Layer.provideMerge(app, server))
    // Added after the server, so it runs before the server's own shutdown (finalizers run in reverse).
    yield* Effect.addFinalizer(() => Effect.sync(() => void (state.draining = true)))
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  })

/**
 * The deployment a URL names on the predict route, found by the matcher the router is built on,
 * with the router's options: a hand-written pattern disagreed with it (the router matches the
 * route's segments in any case, a trailing slash, doubled slashes, `;` as a query separator,
 * escaped characters), so a URL the router served went past the early refusal into a fiber.
 */
export const predictDeploymentName = (maxParamLength: number): (url: string) => string | undefined => {
  const router = FindMyWay.make<true>({ maxParamLength })
  router.on("POST", predictRoute, true)
  return (url) => router.find("POST", url)?.params["name"]
}

/**
 * Answers the predictions the server refuses anyway (queue full, wait too long, draining) from Node's `request`
 * event, before a fiber, a router match or a body read: under overload most requests are refused,
 * and a refusal that costs as much as the work starves the requests that were accepted. Every
 * other request goes on to the routes, which check the same conditions again.
 *
 * A request with `Expect: 100-continue` comes as `checkContinue` instead (the platform listens for
 * it and sends `100 Continue` only once a route reads the body): refused here too, its client
 * never sends the body, and Node closes the connection, which would otherwise carry it.
 */
const refusingEarly = (server: Server, state: ServingState, maxParamLength: number): Server => {
  const deploymentName = predictDeploymentName(maxParamLength)
  const emit = server.emit.bind(server)
  server.emit = ((event: string, ...args: Array<unknown>) => {
    if (event === "request" || event === "checkContinue") {
      const [request, response] = args as [IncomingMessage, ServerResponse]
      if (request.method === "POST" && refuse(state, deploymentName(request.url ?? "/"), response)) return true
    }
    return emit(event, ...args)
  }) as typeof server.emit
  return server
}

const refuse = (state: ServingState, name: string | undefined, response: ServerResponse): boolean => {
  const deployment = name === undefined ? undefined : state.deployments.get(name)
  if (deployment === undefined) return false
  const refusal = deployment.batcher.refusal()
  const draining = state.draining || refusal === "closed"
  if (!draining && refusal === undefined) return false
  deployment.metrics.rejected(draining ? "draining" : refusal!)
  deployment.metrics.answered(503)
  const body = JSON.stringify({
    error: draining ? "the server is shutting down" : refusalMessage(deployment, refusal!)
  })
  response.writeHead(503, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "retry-after": "1",
    ...(draining ? { connection: "close" } : {})
  })
  response.end(body)
  return true
}
