/**
 * The definitions the caller and the workers share: a job, its result, and the actors that
 * produce and consume them through channels.
 */
import * as Schema from "effect/Schema"
import { Actor, Channel, SharedArray, Task } from "effect-parallel/worker"

/** Python's example computes `mul` and `plus` on pairs; so do we. */
export const Job = Schema.Struct({
  id: Schema.Int,
  op: Schema.Literals(["mul", "plus"]),
  a: Schema.Number,
  b: Schema.Number
}).annotate({ identifier: "Job" })
export type Job = typeof Job.Type

/** A whole array as one element: each send copies it into one slot, each take gets a fresh copy. */
export const Signal = SharedArray.array("Float64", { memory: "copied" })

export const Done = Schema.Struct({ id: Schema.Int, worker: Schema.Int, value: Schema.Number }).annotate({ identifier: "Done" })

/** Takes jobs until the channel ends and sends each result; answers how many it did. */
export const Consumer = Actor.make("Consumer", {
  init: {},
  methods: {
    work: {
      payload: { jobs: Channel.schema(Job), results: Channel.schema(Done) },
      success: Schema.Int,
      error: Channel.ChannelError
    },
    /** Sums numbers from a numeric channel until it ends. */
    sum: { payload: { from: Channel.schema("Float64") }, success: Schema.Number },
    /** Takes whole signals until the channel ends: how many, and the largest value seen. */
    peaks: { payload: { from: Channel.schema(Signal) }, success: Schema.Struct({ signals: Schema.Int, peak: Schema.Number }) }
  }
})

/** Sends jobs (ids from `first`) or numbers from a worker: the caller never sees them. */
export const Producer = Actor.make("Producer", {
  init: {},
  methods: {
    jobs: {
      payload: { out: Channel.schema(Job), first: Schema.Int, count: Schema.Int },
      success: Schema.Int,
      error: Channel.ChannelError
    },
    numbers: {
      payload: { out: Channel.schema("Float64"), count: Schema.Int },
      success: Schema.Int,
      error: Channel.ChannelError
    },
    signals: {
      payload: { out: Channel.schema(Signal), count: Schema.Int, length: Schema.Int },
      success: Schema.Int,
      error: Channel.ChannelError
    }
  }
})

export const QueueActors = Task.group(Consumer, Producer)
