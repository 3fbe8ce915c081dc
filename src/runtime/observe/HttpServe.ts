/**
 * Serving routes (`effect/http`'s `HttpRouter`) on a Node HTTP server for a Scope: the one place
 * observers' pages (`/metrics`, the dashboard) get a socket.
 *
 * Loaded only by a program that serves something (`import()`), so that `@effect/platform-node`, an
 * optional peer dependency, is needed only then.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import { ServeError } from "effect/http/HttpServerError"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type * as Scope from "effect/Scope"
import { createServer, type Server } from "node:http"

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string | undefined
}

/**
 * Starts a server with `routes` and returns its URL (`http://host:port`); the server closes with
 * the Scope (open connections, such as server-sent event streams, are closed with it). A port
 * that is not an integer from 0 to 65535 fails with `ServeError`, as a port in use does (Node's
 * `listen` throws it, which would be a defect).
 */
export const serve = (
  routes: Layer.Layer<never, never, HttpRouter.HttpRouter>,
  options: ServeOptions
): Effect.Effect<string, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const port: unknown = options.port
    if (!(typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535)) {
      return yield* new ServeError({ cause: new RangeError(`port must be an integer from 0 to 65535, got ${String(port)}`) })
    }
    // The server's own close waits up to `gracefulShutdownTimeout` for its connections, then
    // leaves those still open (one with no request yet, half a request) alive until Node's
    // timeouts (a minute): closed here, last, so the scope leaves no socket behind.
    let node: Server | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => node?.closeAllConnections()))
    const server = NodeHttpServer.layer(() => (node = createServer()), {
      port: options.port,
      host: options.host ?? "127.0.0.1",
      gracefulShutdownTimeout: "1 second"
    })
    const app = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true })
    const context = yield* Layer.build(Layer.provideMerge(app, server))
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  })

/** Every metric of the current registry at `path`, in Prometheus text. */
export const metricsRoutes = (path: `/${string}`): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  PrometheusMetrics.layerHttp({ path })

/** The dashboard: its page at `/`, its state as JSON at `/state`, and with `metrics` `/metrics`. */
export const dashboardRoutes = (
  html: string,
  snapshot: () => unknown,
  metrics: boolean
): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  Layer.mergeAll(
    HttpRouter.add("GET", "/", HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8" })),
    HttpRouter.add("GET", "/state", Effect.sync(() => HttpServerResponse.jsonUnsafe(snapshot()))),
    metrics ? metricsRoutes("/metrics") : Layer.empty
  )
