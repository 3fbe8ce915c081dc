/**
 * The contract every `model` variant implements, and the helpers they share.
 *
 * A variant module (`bench/scenarios/model/<peer>.ts`) exports
 * `variants: ReadonlyArray<ModelVariant>` and is listed once in
 * `variantModules` in `bench/scenarios/model.ts`. Worker scripts sit next to
 * their variant as `<peer>.worker.ts`.
 *
 * A variant has `workers` model instances (`serial`: as many predictions per
 * round in one thread). A round is the post's
 * `ray.get([actor.evaluate_next_batch.remote() for actor in actors])`: every
 * instance predicts the whole batch once. The batch is handed over once, at
 * setup, in a `SharedArrayBuffer` — in the post each actor reads a global
 * dataset, so images are not part of a call either.
 */
import type { NamedVariant } from "../../lib/sweep.ts"
import { loadMlp, type MlpSession } from "../../../src/workloads/mlp.ts"

export interface ModelSetup {
  /** The `.onnx` file (`ensureMlpModel` has written it). */
  readonly modelPath: string
  /** `count * IMAGE_SIZE` pixels backed by a `SharedArrayBuffer`: threads read them in place. */
  readonly images: Float32Array
  readonly count: number
  /**
   * `loads[0]` is the number of model loads in this process, every thread
   * included; bump it with `loadCounted`. Backed by a `SharedArrayBuffer`, so
   * pass it to workers (in `workerData`) as is.
   */
  readonly loads: Int32Array
}

export interface ModelHandle {
  /** Model instances (one per worker); a round yields this many outputs. */
  readonly instances: number
  /** One round: every instance predicts the whole batch once; outputs (`count * CLASSES` probabilities) in instance order. */
  readonly round: () => Promise<ReadonlyArray<Float32Array>>
  /** Releases every model and worker; afterwards nothing of the variant keeps the process alive. */
  readonly close: () => Promise<void>
}

export interface ModelVariant extends NamedVariant {
  /**
   * Starts `workers` instances. Variants that load eagerly (the post's actor
   * constructor) resolve once loaded; lazy ones load on their first call,
   * which falls in the untimed warm-up round.
   */
  readonly setup: (workers: number, setup: ModelSetup) => Promise<ModelHandle>
}

/** `loadMlp`, counted in `loads[0]` before it starts (a load that fails still counts as an attempt). */
export const loadCounted = (modelPath: string, loads: Int32Array): Promise<MlpSession> => {
  Atomics.add(loads, 0, 1)
  return loadMlp(modelPath)
}

/** Load, predict, release: one call of the post's `multiprocessing.Pool` variant, counted. */
export const predictReloading = async (setup: ModelSetup): Promise<Float32Array> => {
  const session = await loadCounted(setup.modelPath, setup.loads)
  try {
    return await session.predict(setup.images, setup.count)
  } finally {
    await session.release()
  }
}
