/**
 * `serial` — the baseline: one model loaded once in the measuring thread,
 * predicting the batch `workers` times per round, one prediction after
 * another (onnxruntime-node runs a session synchronously on the calling
 * thread, with one intra-op thread as `loadMlp` configures it).
 *
 * `serial/reload` — the same, but every prediction loads and releases the
 * model: what reloading costs with no parallelism to hide it.
 */
import { loadCounted, type ModelVariant, predictReloading } from "./variant.ts"

const serial: ModelVariant = {
  name: "serial",
  config: "one session in the measuring thread, loaded once; predictions one after another",
  setup: async (workers, setup) => {
    const session = await loadCounted(setup.modelPath, setup.loads)
    return {
      instances: workers,
      round: async () => {
        const outputs: Array<Float32Array> = []
        for (let i = 0; i < workers; i++) outputs.push(await session.predict(setup.images, setup.count))
        return outputs
      },
      close: () => session.release()
    }
  }
}

const serialReload: ModelVariant = {
  name: "serial/reload",
  config: "measuring thread only; every prediction loads, predicts and releases the model",
  setup: async (workers, setup) => ({
    instances: workers,
    round: async () => {
      const outputs: Array<Float32Array> = []
      for (let i = 0; i < workers; i++) outputs.push(await predictReloading(setup))
      return outputs
    },
    close: async () => {}
  })
}

export const variants: ReadonlyArray<ModelVariant> = [serial, serialReload]
