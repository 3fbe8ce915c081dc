/**
 * The PostgreSQL the cluster tests run on: `EFFECT_PARALLEL_PG_URL`, else the one
 * `scripts/setup-postgres.sh` starts (127.0.0.1:54329) when it answers. Each suite gets a database
 * of its own, dropped afterwards, so runners left registered by another run never receive shards.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as PgClient from "@effect/sql-pg/PgClient"
import { connect } from "node:net"

export const wellKnownUrl = "postgres://effect_parallel:effect_parallel@127.0.0.1:54329/effect_parallel"

const reachable = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port || 5432) })
    socket.setTimeout(2000)
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => (socket.destroy(), resolve(false)))
  })

/** The base URL, or undefined (with the reason on stderr) where no PostgreSQL can be had. */
export const findPostgres = async (): Promise<string | undefined> => {
  const url = process.env.EFFECT_PARALLEL_PG_URL || wellKnownUrl
  if (await reachable(url)) return url
  console.warn(
    `cluster PostgreSQL tests skipped: nothing answers at ${new URL(url).host} ` +
      `(run scripts/setup-postgres.sh, or set EFFECT_PARALLEL_PG_URL)`
  )
  return undefined
}

const run = (url: string, statement: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql.unsafe(statement)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))
  )

/** Creates a fresh database next to `url`'s and returns its URL, with a function that drops it. */
export const freshDatabase = async (url: string): Promise<{ readonly url: string; readonly drop: () => Promise<void> }> => {
  const name = `ep_test_${process.pid}_${Date.now().toString(36)}`
  await run(url, `CREATE DATABASE ${name}`)
  const fresh = new URL(url)
  fresh.pathname = `/${name}`
  return {
    url: fresh.toString(),
    drop: () => run(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}
