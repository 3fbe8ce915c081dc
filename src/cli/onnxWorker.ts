/**
 * Worker entry of `effect-parallel serve`: each `OnnxModel` replica loads its session once and
 * runs every batch as one tensor `[rows, …item shape]`.
 */
import * as Effect from "effect/Effect"
import { Actor, Worker } from "../index.ts"
import { loadOnnxRuntime, OnnxModel, OnnxModels } from "./onnxModel.ts"

const onnxModel = Actor.implement(OnnxModel, ({ inputName, intraOpThreads, itemShape, modelPath, outputName }) =>
  Effect.gen(function*() {
    const ort = yield* Effect.promise(() => loadOnnxRuntime())
    const session = yield* Effect.acquireRelease(
      Effect.promise(() =>
        ort.InferenceSession.create(modelPath, {
          // One thread per session: the replicas are the parallelism (see src/workloads/mlp.ts).
          intraOpNumThreads: intraOpThreads,
          interOpNumThreads: 1,
          executionMode: "sequential",
          graphOptimizationLevel: "all"
        })
      ),
      (session) => Effect.promise(() => session.release())
    )
    return {
      predictBatch: ({ data, rows }) =>
        Effect.promise(async () => {
          const input = new ort.Tensor("float32", data as unknown as Float32Array, [rows, ...itemShape])
          // The served output only: another output that is no tensor (a sequence) fails a run that fetches it.
          const outputs = await session.run({ [inputName]: input }, [outputName])
          const values = outputs[outputName]!.data
          // A copy the size of the answer: onnxruntime's own buffer may not be movable. An int64
          // output (ArgMax's class index) is a BigInt64Array, which the constructor refuses.
          const result = values instanceof BigInt64Array || values instanceof BigUint64Array
            ? Float32Array.from(values, Number)
            : new Float32Array(values as Float32Array)
          return { rows, cols: rows === 0 ? 0 : result.length / rows, data: result }
        })
    }
  }))

export default Worker.serve(OnnxModels, { OnnxModel: onnxModel })
