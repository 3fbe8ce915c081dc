/**
 * `effect-parallel runner`: one cluster runner process. It hosts the actors of a runner module on
 * a local pool of worker threads and joins the cluster whose shard locks and registry live in a
 * PostgreSQL database.
 *
 * ```sh
 * effect-parallel runner --module ./host.ts --db postgres://user:pw@127.0.0.1:5432/db --port 34431
 * ```
 *
 * The module's default export is a `Cluster.host(group, { entry, actors })`: the actors to host,
 * their worker entry, and how each actor's init arguments come from its entity id. Every runner
 * and client of one cluster imports the same actor definitions and uses the same lock settings.
 *
 * SIGTERM (or Ctrl-C) shuts down gracefully: calls in flight finish, the runner gives up its
 * shards (the others take them over within about `refreshAssignmentsInterval`), then its workers stop.
 */
import { Console, Effect, Layer, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type * as Cluster from "../api/Cluster.ts"
import { ArgumentError } from "./ArgumentError.ts"

const flags = {
  module: Flag.String("module").pipe(
    Flag.withDescription("Runner module: its default export is Cluster.host(…), the actors this runner hosts")
  ),
  db: Flag.String("db").pipe(
    Flag.withDescription("PostgreSQL URL, postgres://user:password@host:port/database (in effect-parallel's repository, scripts/setup-postgres.sh prints one)")
  ),
  host: Flag.String("host").pipe(
    Flag.withDefault("127.0.0.1"),
    Flag.withDescription("Address other runners and clients reach this runner at")
  ),
  port: Flag.Int("port").pipe(Flag.withDefault(34431), Flag.withDescription("Port this runner listens on, and others reach it at (1 to 65535)")),
  workers: Flag.Int("workers").pipe(
    Flag.optional,
    Flag.withDescription("Worker threads of the local pool (default: the module's, else one per core)")
  ),
  failover: Flag.Finite("failover").pipe(
    Flag.optional,
    Flag.withDescription(
      "Seconds after which a killed runner's shards move (shard lock expiry; default 35). The same on every process"
    )
  )
}

/** The cluster API, loaded when the command runs: `effect-parallel info` starts without it. */
const loadCluster = Effect.promise(() => import("../api/Cluster.ts"))

/**
 * The optional peer the runner's storage needs, loaded first: Cluster.layerPostgres reports its
 * absence as a defect (a library call cannot do otherwise), which the command would log with a stack.
 */
const requireSqlPg = Effect.tryPromise({
  try: () => import("@effect/sql-pg/PgClient"),
  catch: (cause) =>
    new CliError.UserError({
      cause,
      userMessage: (cause as { readonly code?: unknown } | null)?.code === "ERR_MODULE_NOT_FOUND"
        ? "the runner needs @effect/sql-pg, an optional peer of effect-parallel: npm install @effect/sql-pg"
        : `runner: cannot load @effect/sql-pg: ${String(cause)}`
    })
})

/** Loads a runner module and checks that its default export is a `Cluster.host`. */
const loadHost = (Cluster: typeof import("../api/Cluster.ts"), path: string): Effect.Effect<Cluster.Host, Error> => {
  const url = pathToFileURL(resolve(path)).href
  return Effect.tryPromise({
    try: () => import(url) as Promise<{ readonly default?: unknown }>,
    catch: (cause) => {
      const message = `runner: cannot load module ${path}: ${String(cause)}`
      // A path that names no file is the user's typo; a module that throws as it loads is a bug
      // of its own, whose message is shown too, without the command's stack around it.
      return isNotFound(cause, url)
        ? new ArgumentError(message)
        : new CliError.UserError({ cause, userMessage: message })
    }
  }).pipe(
    Effect.flatMap((module) =>
      Cluster.isHost(module.default)
        ? Effect.succeed(module.default)
        : Effect.fail(new ArgumentError(`runner: the default export of ${path} is not a Cluster.host(…)`))
    )
  )
}

export const runner = Command.make("runner", flags, (options) =>
  Effect.gen(function*() {
    if (Option.isSome(options.failover) && !(options.failover.value >= 1)) {
      return yield* Effect.fail(new ArgumentError(`runner: --failover must be at least 1 second, got ${options.failover.value}`))
    }
    // The port is also the address the runner registers for others to reach it: 0 would listen on
    // a port of the OS's choice while every other process sends this runner's shards to port 0.
    if (!validPort(options.port)) {
      return yield* Effect.fail(new ArgumentError(`runner: --port must be a port number from 1 to 65535, got ${options.port}`))
    }
    yield* requireSqlPg
    const Cluster = yield* loadCluster
    const loaded = yield* loadHost(Cluster, options.module)
    const host: Cluster.Host = Option.isSome(options.workers)
      ? { ...loaded, pool: { ...loaded.pool, size: options.workers.value } }
      : loaded
    const cluster = Cluster.layerPostgres({
      url: options.db,
      runner: { host: options.host, port: options.port },
      ...(Option.isSome(options.failover) ? { shardingConfig: Cluster.failover(options.failover.value) } : {})
    })
    yield* Layer.build(Cluster.layerRunner(host, cluster))
    // The line a supervisor (or a test) waits for.
    yield* Console.log(
      `runner ready on ${options.host}:${options.port} (pid ${process.pid}) hosting ${
        Object.keys(host.group.actors).join(", ")
      }`
    )
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Console.log(`runner on ${options.host}:${options.port} stopped`))
  )).pipe(
    Command.withDescription("Run a cluster runner hosting the actors of a module, on PostgreSQL")
  )

const validPort = (port: number): boolean => Number.isInteger(port) && port >= 1 && port <= 65535

/** Whether an import failed because `url` itself is missing (not a module it imports). */
const isNotFound = (cause: unknown, url: string): boolean =>
  (cause as { readonly code?: unknown } | null)?.code === "ERR_MODULE_NOT_FOUND" &&
  String((cause as { readonly url?: unknown }).url ?? "") === url
