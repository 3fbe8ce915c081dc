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
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import type { ServeError } from "effect/http/HttpServerError"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import { routes, type ServingState } from "./Routes.ts"

export interface NodeServerOptions {
  /** 0 picks a free port. */
  readonly port: number
  readonly host: string
  readonly drainTimeoutMillis: number
}

/** Starts the server and returns its URL (`http://host:port`). */
export const start = (state: ServingState, options: NodeServerOptions): Effect.Effect<string, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = NodeHttpServer.layer(() => createServer({ keepAliveTimeout: 5_000 }), {
      port: options.port,
      host: options.host,
      gracefulShutdownTimeout: options.drainTimeoutMillis
    })
    const app = HttpRouter.serve(routes(state), { disableLogger: true, disableListenLog: true })
    const context = yield* Layer.build(Layer.provideMerge(app, server))
    // Added after the server, so it runs before the server's own shutdown (finalizers run in reverse).
    yield* Effect.addFinalizer(() => Effect.sync(() => void (state.draining = true)))
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  })
