/**
 * Any ONNX model as a served actor, for `effect-parallel serve`: `OnnxModel` (one onnxruntime
 * session per replica, loaded in its constructor, released when it stops), `inspectModel` (the
 * input and output shapes, read once in the command's process) and `loadOnnxRuntime`, which
 * imports onnxruntime-node on demand and says what to install when it is missing.
 */
import * as Schema from "effect/Schema"
import type * as Ort from "onnxruntime-node"
import { Actor, Serve, Task } from "../index.ts"

export const OnnxModel = Actor.make("OnnxModel", {
  init: {
    modelPath: Schema.String,
    intraOpThreads: Schema.Int,
    /** From `inspectModel`, read once by the command so replicas load the model only once. */
    inputName: Schema.String,
    outputName: Schema.String,
    itemShape: Schema.Array(Schema.Int)
  },
  methods: { predictBatch: Serve.batchMethod }
})

export const OnnxModels = Task.group(OnnxModel)

/** onnxruntime-node, or an error that names the package to install. */
export const loadOnnxRuntime = async (): Promise<typeof Ort> => {
  try {
    return await import("onnxruntime-node")
  } catch (error) {
    throw new Error(
      `serving an ONNX model needs onnxruntime-node, an optional peer of effect-parallel: npm install onnxruntime-node\n(${
        (error as Error).message
      })`
    )
  }
}

/**
 * A model `serve` cannot serve, found when it starts (before any replica loads it): `message`
 * names the file and what it lacks.
 */
export class UnservableModel extends Schema.TaggedError<UnservableModel>()("UnservableModel", {
  modelPath: Schema.String,
  message: Schema.String
}) {}

const unservable = (modelPath: string, message: string) => new UnservableModel({ modelPath, message: `${modelPath}: ${message}` })

/** What the command needs to know of a model: its one input and its first output, per item. */
export interface ModelShape {
  readonly inputName: string
  readonly outputName: string
  /** Dimensions after the batch dimension. */
  readonly itemShape: ReadonlyArray<number>
  readonly outputShape: ReadonlyArray<number | string>
  /** Numbers per item: the product of `itemShape`. */
  readonly inputSize: number
}

/**
 * Opens the model once to read its shapes; fails with `UnservableModel` when it is not a batch
 * model of one float32 input that takes batches of up to `maxBatch` rows, or when its first output
 * (the one served) is not a numeric tensor.
 */
export const inspectModel = async (modelPath: string, maxBatch = Infinity): Promise<ModelShape> => {
  const ort = await loadOnnxRuntime()
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  try {
    if (session.inputNames.length !== 1) {
      throw unservable(modelPath, `serve needs a model with one input, this one has ${session.inputNames.length}`)
    }
    // A graph that declares no output loads, but onnxruntime refuses every run of it.
    if (session.outputNames.length === 0) {
      throw unservable(modelPath, "serve needs a model with an output, this one has none")
    }
    const input = session.inputMetadata[0]!
    const output = session.outputMetadata[0]!
    if (!input.isTensor || input.type !== "float32") {
      throw unservable(modelPath, `serve needs a float32 tensor input, ${input.name} is not one`)
    }
    // Every batch is one tensor of 1 to --max-batch rows: a fixed first dimension (a model exported
    // for batch 1, or one with no batch dimension) fails all the others at run time.
    const batch = input.shape[0]
    if (batch === undefined || (typeof batch === "number" && batch > 0 && (batch !== 1 || maxBatch !== 1))) {
      throw unservable(
        modelPath,
        `input ${input.name} has shape [${input.shape.join(", ")}]; serve needs a variable batch dimension first${
          batch === 1 ? " (or --max-batch 1 for this model of batch 1)" : ""
        }`
      )
    }
    // onnxruntime-node returns no sequence or map ("Non tensor type is temporarily not supported"),
    // and strings are no numbers: every batch would fail after the server said it was ready.
    if (!output.isTensor || output.type === "string") {
      throw unservable(
        modelPath,
        `output ${output.name} is ${
          output.isTensor ? `a tensor of ${output.type}` : "not a tensor"
        }; serve answers the first output, which must be a numeric tensor`
      )
    }
    const itemShape = input.shape.slice(1)
    if (itemShape.some((dim) => typeof dim !== "number" || dim <= 0)) {
      throw unservable(modelPath, `input ${input.name} has shape [${input.shape.join(", ")}]; serve needs [batch, fixed sizes…]`)
    }
    const numbers = itemShape as ReadonlyArray<number>
    return {
      inputName: input.name,
      outputName: output.name,
      itemShape: numbers,
      outputShape: output.shape,
      inputSize: numbers.reduce((a, b) => a * b, 1)
    }
  } finally {
    await session.release()
  }
}
