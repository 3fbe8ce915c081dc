/**
 * The caller's side of a call: how a worker's report becomes the caller's typed `Exit`.
 */
import * as Duration from "effect/Duration"
import * as Exit from "effect/Exit"
import type * as Task from "../../core/Task.ts"
import {
  renderInput,
  TaskDefect,
  type TaskFailure,
  TaskPayloadError,
  TaskTimeout,
  WorkerLost
} from "../../core/TaskError.ts"
import type { Codec } from "../protocol/codec.ts"
import { Outcome, type PayloadIssue, type RemoteError } from "../protocol/protocol.ts"

export interface CallOptions {
  /** Per-task timeout, enforced in the worker; on expiry the handler is interrupted. */
  readonly timeout?: Duration.Input | undefined
}

/** Turns a worker's report into the caller's typed Exit. */
export const toExit = <T extends Task.Any>(
  task: T,
  codec: Codec,
  input: unknown,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  options: CallOptions | undefined
): Exit.Exit<Task.Success<T>, Task.Error<T> | TaskFailure> => {
  switch (outcome) {
    case Outcome.Success: {
      const decoded = codec.decodeSuccess(value)
      return decoded.issue === undefined
        ? Exit.succeed(decoded.value as Task.Success<T>)
        : Exit.fail(defect(task, input, workerId, {
          name: "SuccessDecodeError",
          message: `result does not match the success Schema: ${decoded.issue.message}`,
          stack: ""
        }))
    }
    case Outcome.Failure: {
      const decoded = codec.decodeError(value)
      return decoded.issue === undefined
        ? Exit.fail(decoded.value as Task.Error<T>)
        : Exit.fail(defect(task, input, workerId, {
          name: "ErrorDecodeError",
          message: `declared error does not match the error Schema: ${decoded.issue.message}`,
          stack: ""
        }))
    }
    case Outcome.Defect:
      return Exit.fail(defect(task, input, workerId, value as RemoteError))
    case Outcome.PayloadInvalid:
      return Exit.fail(payloadError(task, input, value as PayloadIssue, workerId))
    case Outcome.Timeout:
      return Exit.fail(
        new TaskTimeout({
          taskName: task.name,
          workerId,
          input: renderInput(input),
          timeoutMillis: timeoutMillis(options)
        })
      )
    default:
      // Interrupted without the caller asking (the pool is closing), or the worker died.
      return Exit.fail(
        new WorkerLost({
          taskName: task.name,
          workerId,
          input: renderInput(input),
          reason: typeof value === "string" ? value : "interrupted: the pool is shutting down",
          attempts
        })
      )
  }
}

const defect = (task: Task.Any, input: unknown, workerId: number, remote: RemoteError) =>
  new TaskDefect({
    taskName: task.name,
    workerId,
    input: renderInput(input),
    remoteName: remote.name,
    message: remote.message,
    remoteStack: remote.stack
  })

export const payloadError = (task: Task.Any, input: unknown, issue: PayloadIssue, workerId: number) =>
  new TaskPayloadError({
    taskName: task.name,
    workerId,
    input: renderInput(input),
    path: issue.path,
    message: issue.message
  })

export const timeoutMillis = (options: CallOptions | undefined): number =>
  options?.timeout === undefined ? 0 : Math.max(1, Duration.toMillis(options.timeout))
