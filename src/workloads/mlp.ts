/**
 * The expensive-initialization workload of Ray's "10x faster than Python
 * multiprocessing" post: an MNIST-shaped classifier that is costly to load
 * and cheap to call, run with onnxruntime-node.
 *
 * Contains the model (784 -> 512 ReLU -> 10 softmax; seeded weights, the
 * ONNX file encoded by hand since nothing can be downloaded), synthetic
 * images, a session wrapper, a pure-TypeScript reference forward pass, and
 * the serial baselines: load once and predict `rounds` times, or reload for
 * every call as the post's `multiprocessing.Pool` variant does.
 *
 * The graph is `probabilities = Softmax(Gemm(Relu(Gemm(images, w1, b1)), w2, b2))`
 * with `images: float32[batch, 784]` and `probabilities: float32[batch, 10]`;
 * weights are stored `[in, out]` row-major, so the Gemms need no transpose.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { threadId } from "node:worker_threads"
import type { InferenceSession } from "onnxruntime-node"
import { mulberry32, unitFloat32 } from "./internal/random.ts"
import { bytesField, concat, intField, message, stringField } from "./protobuf.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** Pixels per image (28 x 28). */
export const IMAGE_SIZE = 784
/** Width of the hidden layer. */
export const HIDDEN_SIZE = 512
/** Number of classes. */
export const CLASSES = 10
/** Layer widths of a generated MLP: `input -> hidden ReLU -> classes softmax`. */
export interface MlpShape {
  readonly input: number
  readonly hidden: number
  readonly classes: number
}
/** The MNIST-shaped model every workload uses. */
export const MNIST_SHAPE: MlpShape = { input: 784, hidden: 512, classes: 10 }
/**
 * The serving benchmark's wide model: 42x the multiply-adds of MNIST's, so one item takes
 * milliseconds and the model, not HTTP parsing, is the cost of a request.
 */
export const WIDE_SHAPE: MlpShape = { input: 2048, hidden: 8192, classes: 10 }

/** The seed of the benchmark model. */
export const MLP_SEED = 42
/** Names of the graph's input and output. */
export const INPUT_NAME = "images"
export const OUTPUT_NAME = "probabilities"

/** Where the benchmark model lives (`bench/models/` is git-ignored; `ensureMlpModel` writes it). */
export const defaultMlpModelPath: string = fileURLToPath(new URL("../../bench/models/mlp.onnx", import.meta.url))

/** The parameters of the network; `w1` is `[IMAGE_SIZE, HIDDEN_SIZE]` and `w2` is `[HIDDEN_SIZE, CLASSES]`, row-major. */
export interface MlpWeights {
  readonly w1: Float32Array
  readonly b1: Float32Array
  readonly w2: Float32Array
  readonly b2: Float32Array
}

/** A loaded model. */
export interface MlpSession {
  /**
   * Class probabilities of the first `count` images of `images`
   * (`count * IMAGE_SIZE` floats), as `count * CLASSES` floats, row by row.
   */
  readonly predict: (images: Float32Array, count: number) => Promise<Float32Array>
  /** Frees the native session; the wrapper must not be used afterwards. */
  readonly release: () => Promise<void>
}

/** Session settings; see `loadMlp`. */
export interface MlpSessionOptions {
  readonly intraOpNumThreads?: number
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * The network's parameters, drawn from one mulberry32 stream in the order
 * `w1, b1, w2, b2`.
 *
 * Details: `w1` is He-uniform (`±sqrt(6 / 784)`, suited to the ReLU after
 * it), `w2` Glorot-uniform (`±sqrt(6 / (512 + 10))`), biases uniform in
 * `±0.01` — so logits are of order 1 and the softmax is far from one-hot,
 * which keeps the comparison with the reference meaningful.
 */
export const makeMlpWeights = (seed: number = MLP_SEED, shape: MlpShape = MNIST_SHAPE): MlpWeights => {
  const next = mulberry32(seed)
  const uniform = (length: number, limit: number): Float32Array => {
    const values = new Float32Array(length)
    for (let i = 0; i < length; i++) values[i] = (2 * unitFloat32(next()) - 1) * limit
    return values
  }
  const { classes, hidden, input } = shape
  const w1 = uniform(input * hidden, Math.sqrt(6 / input))
  const b1 = uniform(hidden, 0.01)
  const w2 = uniform(hidden * classes, Math.sqrt(6 / (hidden + classes)))
  const b2 = uniform(classes, 0.01)
  return { w1, b1, w2, b2 }
}

/**
 * The ONNX model (ir_version 8, opset 17) with `makeMlpWeights(seed)`, as
 * the bytes of a `.onnx` file.
 *
 * Details: deterministic — the same seed gives identical bytes — and about
 * 1.6 MB. The batch dimension is symbolic (`dim_param: "batch"`).
 */
export const makeMlpModel = (seed: number = MLP_SEED, shape: MlpShape = MNIST_SHAPE): Uint8Array =>
  encodeModel(makeMlpWeights(seed, shape), shape)

/**
 * Makes sure `path` holds `makeMlpModel(seed)`, writing it (and its
 * directory) if it is missing or different; returns `path`.
 *
 * When to use: once in the driver before starting workers, so each worker
 * only loads.
 *
 * Gotchas: the file is written to a temporary name and renamed into place,
 * so concurrent callers never see a half-written model. Comparing the bytes
 * costs ~20 ms; that is the price of never benchmarking a stale model.
 */
export const ensureMlpModel = (
  path: string = defaultMlpModelPath,
  seed: number = MLP_SEED,
  shape: MlpShape = MNIST_SHAPE
): string => {
  const expected = makeMlpModel(seed, shape)
  let current: Uint8Array | undefined
  try {
    current = readFileSync(path)
  } catch {
    current = undefined
  }
  if (current === undefined || !Buffer.from(expected).equals(current)) {
    mkdirSync(dirname(path), { recursive: true })
    const temporary = `${path}.${process.pid}.${threadId}.tmp`
    writeFileSync(temporary, expected)
    renameSync(temporary, path)
  }
  return path
}

/**
 * `count` synthetic images of `IMAGE_SIZE` pixels in [0, 1), flat.
 *
 * Details: one mulberry32 stream; every value is exactly representable as a
 * float32 and strictly below 1.
 */
export const makeImages = (count: number = 10_000, seed: number = 7): Float32Array => {
  const next = mulberry32(seed)
  const images = new Float32Array(count * IMAGE_SIZE)
  for (let i = 0; i < images.length; i++) images[i] = unitFloat32(next())
  return images
}

/**
 * Loads the model at `path` into an onnxruntime-node session.
 *
 * Details: the session gets one intra-op and one inter-op thread (override
 * `intraOpNumThreads` only for a single-process experiment). The parallel
 * versions run one session per worker, one worker per core; onnxruntime's
 * default intra-op pool has a thread per physical core *per session*, so two
 * workers on this 2-core machine would run four compute threads, and those
 * threads spin while waiting for work — they steal the very cores the other
 * worker needs, and a benchmark would measure contention instead of the
 * scheduler. With one thread per session, parallelism comes only from the
 * workers, as with the post's one-actor-per-core.
 *
 * Gotchas: `onnxruntime-node` is imported on first use, so modules that only
 * need weights or images do not load the native library.
 */
export const loadMlp = async (path: string, options: MlpSessionOptions = {}): Promise<MlpSession> => {
  const ort = await import("onnxruntime-node")
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all"
  })
  return {
    predict: async (images, count) => {
      checkBatch(images, count)
      const input = new ort.Tensor("float32", images.subarray(0, count * IMAGE_SIZE), [count, IMAGE_SIZE])
      const outputs: InferenceSession.ReturnType = await session.run({ [INPUT_NAME]: input })
      const output = outputs[OUTPUT_NAME]
      if (output === undefined || !(output.data instanceof Float32Array)) {
        throw new Error(`mlp: the session returned no float32 "${OUTPUT_NAME}" output`)
      }
      return output.data
    },
    release: () => session.release()
  }
}

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * The network in plain TypeScript: `count x CLASSES` probabilities.
 *
 * When to use: as the oracle for the ONNX model in tests. It is ~100x slower
 * than onnxruntime (about 400 M multiply-adds per 1,000 images), so keep
 * counts small.
 *
 * Details: accumulates in float64; onnxruntime accumulates in float32, so
 * the two agree to about 1e-6, not bit for bit.
 */
export const mlpForwardReference = (weights: MlpWeights, images: Float32Array, count: number): Float32Array => {
  checkBatch(images, count)
  const { b1, b2, w1, w2 } = weights
  const output = new Float32Array(count * CLASSES)
  const hidden = new Float64Array(HIDDEN_SIZE)
  const logits = new Float64Array(CLASSES)
  for (let n = 0; n < count; n++) {
    for (let j = 0; j < HIDDEN_SIZE; j++) hidden[j] = b1[j]!
    const image = n * IMAGE_SIZE
    for (let i = 0; i < IMAGE_SIZE; i++) {
      const x = images[image + i]!
      if (x === 0) continue
      const row = i * HIDDEN_SIZE
      for (let j = 0; j < HIDDEN_SIZE; j++) hidden[j]! += x * w1[row + j]!
    }
    for (let c = 0; c < CLASSES; c++) logits[c] = b2[c]!
    for (let j = 0; j < HIDDEN_SIZE; j++) {
      const h = hidden[j]!
      if (h <= 0) continue // ReLU
      const row = j * CLASSES
      for (let c = 0; c < CLASSES; c++) logits[c]! += h * w2[row + c]!
    }
    let max = -Infinity
    for (let c = 0; c < CLASSES; c++) max = Math.max(max, logits[c]!)
    let sum = 0
    for (let c = 0; c < CLASSES; c++) {
      logits[c] = Math.exp(logits[c]! - max)
      sum += logits[c]!
    }
    for (let c = 0; c < CLASSES; c++) output[n * CLASSES + c] = logits[c]! / sum
  }
  return output
}

/**
 * The serial baseline with an actor-like lifetime: loads the model once,
 * then predicts the whole batch `rounds` times; returns each round's output.
 */
export const serialPredict = async (modelPath: string, images: Float32Array, rounds: number): Promise<Array<Float32Array>> => {
  const count = imageCount(images)
  const session = await loadMlp(modelPath)
  try {
    const results: Array<Float32Array> = []
    for (let round = 0; round < rounds; round++) results.push(await session.predict(images, count))
    return results
  } finally {
    await session.release()
  }
}

/**
 * One task of the post's `multiprocessing.Pool` variant: load the model,
 * predict the batch, release — paying initialization on every call.
 */
export const predictReloading = async (modelPath: string, images: Float32Array): Promise<Float32Array> => {
  const session = await loadMlp(modelPath)
  try {
    return await session.predict(images, imageCount(images))
  } finally {
    await session.release()
  }
}

/** The reload-per-call baseline: `rounds` calls of `predictReloading`, one after another. */
export const serialPredictReloading = async (
  modelPath: string,
  images: Float32Array,
  rounds: number
): Promise<Array<Float32Array>> => {
  const results: Array<Float32Array> = []
  for (let round = 0; round < rounds; round++) results.push(await predictReloading(modelPath, images))
  return results
}

// ---------------------------------------------------------------------------
// Private machinery
// ---------------------------------------------------------------------------

const imageCount = (images: Float32Array): number => {
  if (images.length % IMAGE_SIZE !== 0) {
    throw new RangeError(`mlp: ${images.length} floats is not a whole number of ${IMAGE_SIZE}-pixel images`)
  }
  return images.length / IMAGE_SIZE
}

const checkBatch = (images: Float32Array, count: number): void => {
  if (!Number.isInteger(count) || count < 0 || count * IMAGE_SIZE > images.length) {
    throw new RangeError(`mlp: cannot read ${count} images from ${images.length} floats`)
  }
}

/* onnx.proto's field numbers below; the writer is `protobuf.ts`. */

const FLOAT = 1 // TensorProto.DataType.FLOAT
const IR_VERSION = 8
const OPSET = 17

/** TensorProto{dims=1, data_type=2, name=8, raw_data=9}; raw_data is little-endian float32. */
const initializer = (name: string, dims: ReadonlyArray<number>, values: Float32Array): Uint8Array => {
  const raw = new Uint8Array(values.length * 4)
  const view = new DataView(raw.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
  return message(5, ...dims.map((dim) => intField(1, dim)), intField(2, FLOAT), stringField(8, name), bytesField(9, raw))
}

/** NodeProto{input=1, output=2, name=3, op_type=4}; every op here uses its default attributes. */
const node = (opType: string, name: string, inputs: ReadonlyArray<string>, output: string): Uint8Array =>
  message(1, ...inputs.map((input) => stringField(1, input)), stringField(2, output), stringField(3, name), stringField(4, opType))

/**
 * ValueInfoProto{name=1, type=2} of a float tensor `[batch, width]`:
 * TypeProto{tensor_type=1} > Tensor{elem_type=1, shape=2} > TensorShapeProto{dim=1} > Dimension{dim_value=1, dim_param=2}.
 */
const batchOf = (field: number, name: string, width: number): Uint8Array =>
  message(
    field,
    stringField(1, name),
    message(
      2,
      message(1, intField(1, FLOAT), message(2, message(1, stringField(2, "batch")), message(1, intField(1, width))))
    )
  )

/** ModelProto{ir_version=1, producer_name=2, graph=7, opset_import=8} > GraphProto{node=1, name=2, initializer=5, input=11, output=12}. */
const encodeModel = (weights: MlpWeights, shape: MlpShape): Uint8Array => {
  const graph = message(
    7,
    node("Gemm", "fc1", [INPUT_NAME, "w1", "b1"], "fc1_out"),
    node("Relu", "relu", ["fc1_out"], "hidden"),
    node("Gemm", "fc2", ["hidden", "w2", "b2"], "logits"),
    node("Softmax", "softmax", ["logits"], OUTPUT_NAME), // axis defaults to -1 from opset 13
    stringField(2, "mlp"),
    initializer("w1", [shape.input, shape.hidden], weights.w1),
    initializer("b1", [shape.hidden], weights.b1),
    initializer("w2", [shape.hidden, shape.classes], weights.w2),
    initializer("b2", [shape.classes], weights.b2),
    batchOf(11, INPUT_NAME, shape.input),
    batchOf(12, OUTPUT_NAME, shape.classes)
  )
  return concat([
    intField(1, IR_VERSION),
    stringField(2, "effect-parallel"),
    graph,
    message(8, intField(2, OPSET)) // OperatorSetIdProto{domain=1 (default ""), version=2}
  ])
}
