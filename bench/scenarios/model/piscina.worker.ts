/**
 * Piscina worker for the `model` scenario; `workerData` is a `ModelSetup`.
 *
 * - default export (`piscina`): module-level model, loaded lazily on the
 *   thread's first task and kept for the thread's life — the idiomatic
 *   Piscina way to keep an expensive resource per thread;
 * - `reload` (`reload-per-call`): loads, predicts and releases on every task.
 *
 * The output's buffer is moved (transferred), not cloned.
 */
import { move, workerData } from "piscina"
import type { MlpSession } from "../../../src/workloads/mlp.ts"
import { loadCounted, type ModelSetup, predictReloading } from "./variant.ts"

const setup = workerData as ModelSetup
let session: Promise<MlpSession> | undefined

export default async (): Promise<unknown> => {
  session ??= loadCounted(setup.modelPath, setup.loads)
  return move(await (await session).predict(setup.images, setup.count))
}

export const reload = async (): Promise<unknown> => move(await predictReloading(setup))
