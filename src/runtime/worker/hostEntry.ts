/**
 * What a worker's first module does once it can talk to its pool, on any host (a thread's
 * `threadMain`, a child process's `processMain`): load the worker entry, refuse one made with
 * another copy of effect, and put a `WorkerRuntime` on it. The host then wires its messages and
 * calls `start`.
 */
import * as Schema from "effect/Schema"
import { fileURLToPath } from "node:url"
import { PoolError, PoolErrorReason } from "../../core/PoolError.ts"
import { isWorkerEntry } from "../../core/Worker.ts"
import { duplicateEffect } from "../internal/effectCopy.ts"
import { notAnEntry } from "../internal/errorText.ts"
import { Op, toRemoteError } from "../protocol/protocol.ts"
import { type Post, type RuntimeHost, WorkerRuntime } from "./WorkerRuntime.ts"

/**
 * A runtime on the entry at `entry` (a module URL), not yet started; `undefined` when the entry
 * cannot serve, after saying `InitFailed` to the pool.
 */
export const hostEntry = async (
  entry: string,
  workerId: number,
  post: Post,
  host: RuntimeHost
): Promise<WorkerRuntime | undefined> => {
  try {
    const loaded = (await import(entry)).default
    if (!isWorkerEntry(loaded)) throw notAnEntry(entry.startsWith("file:") ? fileURLToPath(entry) : entry)
    // The entry's definitions on another copy of effect would reject valid payloads: refuse to start.
    const duplicate = duplicateEffect(loaded.group, entry, `worker ${workerId}`)
    if (duplicate !== undefined) {
      post([Op.InitFailed, toRemoteError(new PoolError({ reason: duplicate })), Schema.encodeSync(PoolErrorReason)(duplicate)])
      return undefined
    }
    return new WorkerRuntime(loaded, workerId, post, host)
  } catch (error) {
    post([Op.InitFailed, toRemoteError(error)])
    return undefined
  }
}
