/**
 * The pipeline scenario's task and actor definitions, shared by the caller and `worker.ts`.
 */
import * as Schema from "effect/Schema"
import { Actor, Channel, SharedArray, Task } from "effect-parallel/worker"

const Moved = SharedArray.array("Float64", { memory: "moved" })

export const Generate = Task.make("Generate", { payload: Schema.Number, success: Moved })
export const Convolve = Task.make("Convolve", { payload: Moved, success: Moved })
export const Reduce = Task.make("Reduce", { payload: Moved, success: Schema.Number })

export const GenerateImage = Task.make("GenerateImage", { payload: Schema.Number, success: Moved })
export const ConvolveImage = Task.make("ConvolveImage", { payload: Moved, success: Moved })
export const SumImage = Task.make("SumImage", { payload: Moved, success: Schema.Number })

export const Rec = Schema.Struct({ id: Schema.Int, name: Schema.String, value: Schema.Number }).annotate({ identifier: "Rec" })

const Checked = Schema.Struct({ count: Schema.Int, checksum: Schema.Number })

/** One end of a channel benchmark: sends or takes `count` elements, and answers a checksum. */
export const ChannelEnd = Actor.make("ChannelEnd", {
  init: {},
  methods: {
    sendRecords: { payload: { out: Channel.schema(Rec), count: Schema.Int }, success: Schema.Int, error: Channel.ChannelError },
    takeRecords: { payload: { from: Channel.schema(Rec) }, success: Checked },
    sendNumbers: { payload: { out: Channel.schema("Float64"), count: Schema.Int }, success: Schema.Int, error: Channel.ChannelError },
    takeNumbers: { payload: { from: Channel.schema("Float64") }, success: Checked },
    /** Round trips: sends one number on `out`, waits for it back on `from`, `count` times; µs per round trip, sorted. */
    ping: {
      payload: { out: Channel.schema("Float64"), from: Channel.schema("Float64"), count: Schema.Int },
      success: Schema.Array(Schema.Number),
      error: Channel.ChannelError
    },
    /** Sends back every number it takes until `from` ends. */
    pong: { payload: { from: Channel.schema("Float64"), out: Channel.schema("Float64") }, success: Schema.Int, error: Channel.ChannelError }
  }
})

/** A whole image as one channel element (one slot of 4 + 8 × 4,096 bytes). */
export const Image = SharedArray.array("Float64", { memory: "copied" })

/**
 * Worker-to-worker stages: `generate` makes the images `first, first + step, …` below `count` and
 * sends each (4,096 numbers) into `out` as one element; `convolveSum` takes images from `from`
 * until it ends, convolves each and returns the sum of their sums.
 */
export const Lane = Actor.make("Lane", {
  init: {},
  methods: {
    generate: {
      payload: { out: Channel.schema(Image), first: Schema.Int, step: Schema.Int, count: Schema.Int },
      success: Schema.Int,
      error: Channel.ChannelError
    },
    convolveSum: { payload: { from: Channel.schema(Image) }, success: Schema.Number }
  }
})

/**
 * The serial loop over `count` images `first, first + step, …` as one task: the gap probe's
 * (`gap.ts`) baseline on our pool, with no per-image task.
 */
export const ImageLoop = Task.make("ImageLoop", {
  payload: Schema.Struct({ first: Schema.Int, count: Schema.Int, step: Schema.Int }),
  success: Schema.Number
})

export const PipelineBench = Task.group(Lane, Generate, Convolve, Reduce, GenerateImage, ConvolveImage, SumImage, ImageLoop, ChannelEnd)
