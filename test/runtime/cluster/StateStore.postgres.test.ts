/**
 * Durable actors' state store on PostgreSQL: its table is made by whichever process comes first,
 * runners and clients starting together on a fresh database included; a process without the
 * privilege to create tables uses the one another made.
 *
 * Skipped, saying so, where no PostgreSQL answers (see test/support/postgres.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { Cluster } from "../../../src/index.ts"
import { layerSql, StateStore } from "../../../src/runtime/cluster/StateStore.ts"
import { findPostgres, freshDatabase } from "../../support/postgres.ts"
import { freePort } from "../../support/runners.ts"

const baseUrl = await findPostgres()

describe.skipIf(baseUrl === undefined)("StateStore on PostgreSQL", () => {
  it("processes starting together on a fresh database each get the state table", async () => {
    const db = await freshDatabase(baseUrl!)
    try {
      await Effect.runPromise(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (let round = 0; round < 10; round++) {
          yield* sql`DROP TABLE IF EXISTS effect_parallel_actor_state`
          // Concurrent CREATE TABLE IF NOT EXISTS can fail in PostgreSQL (a unique violation on
          // pg_type): a process that lost that race died as it started.
          const exits = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i),
            (i) =>
              Effect.exit(Effect.scoped(Effect.gen(function*() {
                const store = Context.get(yield* Layer.build(layerSql), StateStore)
                yield* store.save("Wallet", `w-${i}`, `{"round":${round}}`)
              }))),
            { concurrency: "unbounded" }
          )
          for (const exit of exits) assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
        }
        const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM effect_parallel_actor_state`
        assert.strictEqual(rows[0]!.n, 8)
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(db.url), maxConnections: 10 }))))
    } finally {
      await db.drop()
    }
  }, 60_000)

  it("a client whose role may not create tables uses the ones a runner made", async () => {
    const db = await freshDatabase(baseUrl!)
    const role = `ep_nocreate_${process.pid}`
    const restricted = new URL(db.url)
    restricted.username = role
    restricted.password = role
    const asOwner = (url: string, ...statements: ReadonlyArray<string>) =>
      Effect.runPromise(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const statement of statements) yield* sql.unsafe(statement)
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) }))))
    try {
      // A runner made every table (effect/cluster's and the state table) as the database's owner.
      const port = await freePort()
      await Effect.runPromise(Effect.scoped(Layer.build(Cluster.layerPostgres({ url: db.url, runner: { host: "127.0.0.1", port } }))))
      await asOwner(
        db.url,
        `CREATE ROLE ${role} LOGIN PASSWORD '${role}'`,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        `GRANT USAGE ON SCHEMA public TO ${role}`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
        `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`
      )
      // PostgreSQL refuses CREATE TABLE IF NOT EXISTS without CREATE on the schema even when the
      // table exists: the client died building its Layer.
      const loaded = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = Context.get(yield* Layer.build(Cluster.layerPostgres({ url: restricted.toString() })), StateStore)
        yield* store.save("Wallet", "w-1", `{"balance":1}`)
        return yield* store.load("Wallet", "w-1")
      })))
      assert.strictEqual(loaded, `{"balance":1}`)
    } finally {
      await db.drop()
      await asOwner(baseUrl!, `DROP ROLE IF EXISTS ${role}`)
    }
  }, 60_000)
})
