/**
 * Piscina worker of the `serving` scenario's `piscina/per-request` variant: one onnxruntime
 * session per thread, loaded on its first task (Piscina's idiom); one task per HTTP request.
 */
import { move, workerData } from "piscina"
import { loadOnnxRuntime } from "../../../src/cli/onnxModel.ts"

interface Setup {
  readonly modelPath: string
  readonly inputName: string
  readonly outputName: string
  readonly itemShape: ReadonlyArray<number>
}

const setup = workerData as Setup
const ort = await loadOnnxRuntime()
let session: ReturnType<typeof ort.InferenceSession.create> | undefined

export default async ({ data, rows }: { data: Float32Array; rows: number }): Promise<unknown> => {
  session ??= ort.InferenceSession.create(setup.modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all"
  })
  const outputs = await (await session).run({
    [setup.inputName]: new ort.Tensor("float32", data, [rows, ...setup.itemShape])
  })
  return move(new Float32Array(outputs[setup.outputName]!.data as Float32Array))
}
