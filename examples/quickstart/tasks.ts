// tasks.ts — what can run on a worker: a name, and Schemas for the payload, the result and the error
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

export class RangeTooLarge extends Schema.TaggedError<RangeTooLarge>()("RangeTooLarge", {
  size: Schema.Int,
  limit: Schema.Int
}) {}

export const CountPrimes = Task.make("CountPrimes", {
  payload: { from: Schema.Int, to: Schema.Int },
  success: Schema.Int,
  error: RangeTooLarge
})

export const PrimeTasks = Task.group(CountPrimes)
