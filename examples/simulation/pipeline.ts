/**
 * The program under test: a streaming pipeline that indexes documents on a pool, in order, with
 * bounded work in flight. It only needs a pool serving `Index` — threads in production, a
 * simulation in its property test.
 */
import * as Stream from "effect/Stream"
import { Task } from "effect-parallel"
import { Index } from "./tasks.ts"

export const indexAll = (docs: ReadonlyArray<string>) =>
  Stream.fromIterable(docs).pipe(
    Stream.map((doc) => ({ doc })),
    Task.stream(Index, { chunkSize: 3, concurrency: 2 }),
    Stream.runCollect
  )
