/**
 * Where durable actors keep their state snapshots: one JSON document per entity, keyed by entity
 * type and id.
 *
 * Contains the `StateStore` service, its in-memory implementation (the single-process cluster)
 * and its SQL one (a table `effect_parallel_actor_state` beside effect/cluster's own tables, made
 * by the first process that finds it missing; the others need no privilege to create tables).
 * A save replaces the previous snapshot; the last one written wins.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"

export interface StateStoreService {
  readonly load: (entityType: string, entityId: string) => Effect.Effect<string | undefined>
  readonly save: (entityType: string, entityId: string, json: string) => Effect.Effect<void>
}

export class StateStore extends Context.Service<StateStore, StateStoreService>()(
  "effect-parallel/Cluster/StateStore"
) {}

/** Snapshots in this process's memory: for the in-memory cluster. */
export const layerMemory: Layer.Layer<StateStore> = Layer.sync(StateStore)(() => {
  const states = new Map<string, string>()
  const key = (entityType: string, entityId: string) => `${entityType}\u0000${entityId}`
  return {
    load: (entityType, entityId) => Effect.sync(() => states.get(key(entityType, entityId))),
    save: (entityType, entityId, json) => Effect.sync(() => void states.set(key(entityType, entityId), json))
  }
})

/**
 * Snapshots in the cluster's SQL database. A storage failure is a defect of `load` or `save`: the
 * runner logs a failed save and the call that snapshots still answers (see `Cluster.Durable`); a
 * failed load fails the entity's activation, which effect/cluster retries.
 */
export const layerSql: Layer.Layer<StateStore, never, SqlClient.SqlClient> = Layer.effect(StateStore)(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Looked for first: PostgreSQL refuses CREATE TABLE IF NOT EXISTS to a role without CREATE on
    // the schema even when the table exists, and clients need not have it (effect/cluster's own
    // migrations look first too). Runners and clients starting together on a fresh database race
    // to create the table, and PostgreSQL fails a CREATE TABLE IF NOT EXISTS that raced another
    // with a unique violation (on pg_type) once that one commits: tried again, it finds the table.
    const exists = sql<{ readonly found: number }>`SELECT 1 AS found
      WHERE to_regclass('effect_parallel_actor_state') IS NOT NULL`.pipe(Effect.map((rows) => rows.length > 0))
    const create = sql`CREATE TABLE IF NOT EXISTS effect_parallel_actor_state (
      entity_type TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      state TEXT NOT NULL,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (entity_type, entity_id)
    )`
    yield* Effect.flatMap(exists, (found) => found ? Effect.void : Effect.asVoid(create)).pipe(
      Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 5 }),
      Effect.orDie
    )
    return {
      load: (entityType, entityId) =>
        sql<{ readonly state: string }>`SELECT state FROM effect_parallel_actor_state
          WHERE entity_type = ${entityType} AND entity_id = ${entityId}`.pipe(
          Effect.map((rows) => rows[0]?.state),
          Effect.orDie
        ),
      save: (entityType, entityId, json) =>
        sql`INSERT INTO effect_parallel_actor_state (entity_type, entity_id, state)
          VALUES (${entityType}, ${entityId}, ${json})
          ON CONFLICT (entity_type, entity_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`.pipe(
          Effect.asVoid,
          Effect.orDie
        )
    }
  })
)
