/**
 * Durable actors' state store on PostgreSQL: its table is made by whichever process comes first,
 * runners and clients starting together on a fresh database included.
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
import { layerSql, StateStore } from "../../../src/runtime/cluster/StateStore.ts"
import { findPostgres, freshDatabase } from "../../support/postgres.ts"

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
})
