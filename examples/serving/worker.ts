/**
 * The serving example's worker entry: each `Mnist` replica loads the ONNX model once, in its
 * scoped constructor, and releases it when the server closes.
 */
import * as Effect from "effect/Effect"
import { Actor, Worker } from "effect-parallel/worker"
import { Mnist, MnistModels } from "./model.ts"

const MnistLive = Actor.implement(Mnist, ({ modelPath }) =>
  Effect.gen(function*() {
    const ort = yield* Effect.promise(() => import("onnxruntime-node"))
    const { id } = yield* Worker.WorkerInfo
    const session = yield* Effect.acquireRelease(
      Effect.promise(() => ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 })),
      (session) =>
        Effect.promise(() => session.release()).pipe(
          Effect.andThen(Effect.sync(() => console.log(`  [worker ${id}] model released`)))
        )
    )
    console.log(`  [worker ${id}] model loaded`)
    return {
      predictBatch: ({ cols, data, rows }) =>
        Effect.promise(async () => {
          const input = new ort.Tensor("float32", data as unknown as Float32Array, [rows, cols])
          const { probabilities } = await session.run({ images: input })
          const out = new Float32Array(probabilities!.data as Float32Array)
          return { rows, cols: out.length / rows, data: out }
        })
    }
  }))

export default Worker.serve(MnistModels, { Mnist: MnistLive })
