/**
 * Tasks across runners: the `effect/cluster` Entity through which a runner takes chunks of a
 * task's submissions and runs them on its local pool, and the chunk's wire format, described once.
 *
 * One entity type per task (`Task/<name>`) with one RPC, `run`. Chunks go to `lanes` entity ids,
 * which the cluster shards over the runners; a lane handles its chunks concurrently, so lanes only
 * spread work, they never serialize it.
 *
 * The chunk carries the pool contract (`PoolClient`) across processes, not `Task.map`: the
 * caller's call path encodes payloads and decodes outcomes exactly as on a local pool, so errors
 * are built on the caller's side, from its own inputs, with the ids the runner reports.
 *
 *   caller → runner  `{ payloads, timeoutMillis }`: `payloads` in the pool's wire form (the payload
 *                    Schema's encoded form), each coded to JSON by that form's JSON codec
 *                    (`toCodecJson(toEncoded(payload))`) on the caller's side, so a payload that
 *                    does not fit its Schema fails alone, before it is sent, naming its path.
 *   runner → caller  `{ runner, settled }`: `runner` names the process (`host/pid`); `settled` is
 *                    flat, `Settled.stride` fields per task: its position in the chunk, its
 *                    `Outcome`, the outcome's value (a success or declared error by its Schema's
 *                    JSON codec; `RemoteError`, `PayloadIssue`, `WorkerExit` as plain JSON; null for
 *                    none), the runner's worker id, the attempts on that runner, the task id there.
 *
 * The runner submits a chunk to its local pool and answers once every task settled, or at the
 * first failure other than `Lost`: it cancels the rest of the chunk on its pool then, since every
 * caller of a pool fails fast on such a failure (a `Lost` task may be re-sent by the caller's
 * `retries`, so the rest of its chunk runs on).
 */
import * as Entity from "effect/cluster/Entity"
import * as Effect from "effect/Effect"
import * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"
import { hostname } from "node:os"
import type * as Task from "../../core/Task.ts"
import type { PoolClient, Ticket } from "../client/PoolClient.ts"
import { type Coded, issueOf } from "../protocol/codec.ts"
import { Outcome, type PayloadIssue, type RemoteError, type WorkerExit } from "../protocol/protocol.ts"

/** Entity ids chunks are spread over: enough that the shards they hash to cover every runner. */
export const lanes = 64

/** The layout of a reply's `settled`: `stride` fields per task, at these offsets. */
export const Settled = { stride: 6, position: 0, outcome: 1, value: 2, workerId: 3, attempts: 4, taskId: 5 } as const

export interface ChunkRequest {
  readonly payloads: ReadonlyArray<unknown>
  readonly timeoutMillis: number
}

export interface ChunkReply {
  readonly runner: string
  readonly settled: ReadonlyArray<unknown>
}

const entities = new WeakMap<Task.Any, Entity.Any>()

/** The Entity a task's chunks go through (cached: one per definition). */
export const taskEntityOf = (task: Task.Any): Entity.Any => {
  let entity = entities.get(task)
  if (entity === undefined) {
    // `Any`: the fields are coded per element here (`chunkCodecOf`), so that one bad payload
    // fails alone; the cluster's own JSON codec passes them as they are.
    entity = Entity.make(`Task/${task.name}`, [
      Rpc.make("run", {
        payload: { payloads: Schema.Array(Schema.Any), timeoutMillis: Schema.Number },
        success: Schema.Struct({ runner: Schema.String, settled: Schema.Array(Schema.Any) })
      })
    ]) as unknown as Entity.Any
    entities.set(task, entity)
  }
  return entity
}

/** The JSON side of a task's wire values, both ways. */
export interface ChunkCodec {
  /** caller: a wire payload → JSON, or the issue that keeps it from being sent */
  readonly payloadToJson: (wire: unknown) => Coded
  /** runner: JSON → a wire payload */
  readonly payloadFromJson: (json: unknown) => Coded
  /** runner: an outcome's value → JSON, or the issue when a success or declared error has no JSON form */
  readonly valueToJson: (outcome: Outcome, value: unknown) => Coded
  /** caller: JSON → an outcome's value, or the issue when it does not decode */
  readonly valueFromJson: (outcome: Outcome, json: unknown) => Coded
}

const codecs = new WeakMap<Task.Any, ChunkCodec>()

export const chunkCodecOf = (task: Task.Any): ChunkCodec => {
  let codec = codecs.get(task)
  if (codec === undefined) {
    const json = (schema: Schema.Top) => {
      const codec = Schema.toCodecJson(Schema.toEncoded(schema as Schema.Codec<unknown, unknown>)) as Schema.Codec<
        unknown,
        unknown
      >
      return { encode: coder(Schema.encodeUnknownExit(codec)), decode: coder(Schema.decodeUnknownExit(codec)) }
    }
    const payload = json(task.payload)
    const success = json(task.success)
    const error = json(task.error)
    codec = {
      payloadToJson: payload.encode,
      payloadFromJson: payload.decode,
      valueToJson: (outcome, value) => {
        switch (outcome) {
          case Outcome.Success:
          case Outcome.Failure:
            return (outcome === Outcome.Success ? success : error).encode(value)
          case Outcome.Lost: {
            const exit = value as WorkerExit
            return plain({
              kind: exit.kind,
              message: exit.message,
              ...(exit.exitCode === undefined ? {} : { exitCode: exit.exitCode }),
              ...(exit.signal === undefined ? {} : { signal: exit.signal })
            })
          }
          case Outcome.Defect: {
            const remote = value as RemoteError
            return plain({ name: String(remote.name), message: String(remote.message), stack: String(remote.stack) })
          }
          case Outcome.PayloadInvalid: {
            const issue = value as PayloadIssue
            return plain({ path: [...issue.path], message: issue.message })
          }
          default:
            return plain(value === undefined ? null : value)
        }
      },
      valueFromJson: (outcome, json) => {
        switch (outcome) {
          case Outcome.Success:
          case Outcome.Failure:
            return (outcome === Outcome.Success ? success : error).decode(json)
          case Outcome.Lost: {
            const exit = json as Partial<WorkerExit> & { readonly exitCode?: number | null; readonly signal?: string | null }
            return {
              value: {
                kind: exit.kind ?? "Crashed",
                message: exit.message ?? "",
                ...(typeof exit.exitCode === "number" ? { exitCode: exit.exitCode } : {}),
                ...(typeof exit.signal === "string" ? { signal: exit.signal } : {})
              } satisfies WorkerExit,
              issue: undefined
            }
          }
          default:
            return { value: json === null ? undefined : json, issue: undefined }
        }
      }
    }
    codecs.set(task, codec)
  }
  return codec
}

/** This process, as the runner a chunk's outcomes came from. */
export const runnerName = `${hostname()}/${process.pid}`

/**
 * Runs one chunk on the runner's local pool and answers its outcomes (see the header). Interrupted
 * (the caller cancelled it, or the runner lets go of the lane), it cancels the chunk on its pool
 * and completes once the tasks stopped there.
 */
export const runChunk = (task: Task.Any, pool: PoolClient, request: ChunkRequest): Effect.Effect<ChunkReply> =>
  Effect.callback<ChunkReply>((resume) => {
    const codec = chunkCodecOf(task)
    const settled: Array<unknown> = []
    const answer = () => resume(Effect.succeed({ runner: runnerName, settled }))
    const push = (position: number, outcome: Outcome, value: unknown, workerId: number, attempts: number, taskId: number) => {
      const json = codec.valueToJson(outcome, value)
      if (json.issue === undefined) return void settled.push(position, outcome, json.value, workerId, attempts, taskId)
      // The worker's encode checked the value: one with no JSON form (a declaration without a JSON
      // codec) is a defect of its Schema on the cluster, reported as one.
      const defect = codec.valueToJson(Outcome.Defect, {
        name: outcome === Outcome.Success ? "SuccessEncodeError" : "ErrorEncodeError",
        message: `the value has no JSON form for the cluster: ${json.issue.message}`,
        stack: ""
      })
      settled.push(position, Outcome.Defect, defect.value, workerId, attempts, taskId)
    }
    const wire: Array<unknown> = []
    const positions: Array<number> = []
    for (let position = 0; position < request.payloads.length; position++) {
      const decoded = codec.payloadFromJson(request.payloads[position])
      if (decoded.issue === undefined) {
        wire.push(decoded.value)
        positions.push(position)
      } else {
        // The caller checked it: only a caller with another version of the task gets here.
        push(position, Outcome.PayloadInvalid, decoded.issue, -1, 0, -1)
        answer()
        return
      }
    }
    if (wire.length === 0) return answer()
    let remaining = wire.length
    let stopped = false
    let ticket: Ticket | undefined
    let stopEarly = false
    const stop = (t: Ticket) => void t.cancel().then(answer)
    ticket = pool.submit({
      taskName: task.name,
      payloads: wire,
      chunkSize: Math.min(256, Math.max(1, Math.ceil(wire.length / (pool.size * 4)))),
      coalesce: false,
      timeoutMillis: request.timeoutMillis,
      whenFull: "wait",
      settle: (index, outcome, value, workerId, attempts, taskId) => {
        if (stopped) return
        push(positions[index]!, outcome, value, workerId, attempts, taskId)
        remaining--
        if (outcome !== Outcome.Success && outcome !== Outcome.Lost) {
          stopped = true
          if (ticket === undefined) stopEarly = true
          else stop(ticket)
        } else if (remaining === 0) {
          stopped = true
          answer()
        }
      }
    })
    if (stopEarly) stop(ticket)
    return Effect.promise(() => ticket.cancel())
  })

const plain = (value: unknown): Coded => ({ value, issue: undefined })

const coder = (run: (input: unknown) => ReturnType<ReturnType<typeof Schema.encodeUnknownExit>>) => (input: unknown): Coded => {
  const exit = run(input)
  return exit._tag === "Success" ? { value: exit.value, issue: undefined } : { value: undefined, issue: issueOf(exit) }
}
