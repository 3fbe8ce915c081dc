/**
 * Raw `worker_threads` model actor for the `model` scenario: loads the model
 * once at start (the post's actor constructor), then predicts the shared
 * batch once per message.
 *
 * Start-up: `workerData` is a `ModelSetup`; after loading, posts `"ready"`
 * (or `["failed", message]`). Request `id` -> reply `[id, 0, probabilities]`
 * with the output's buffer transferred, or `[id, 1, error message]`.
 */
import { parentPort, workerData } from "node:worker_threads"
import { loadCounted, type ModelSetup } from "./variant.ts"

const port = parentPort!
const setup = workerData as ModelSetup

try {
  const session = await loadCounted(setup.modelPath, setup.loads)
  port.on("message", async (id: number) => {
    try {
      const output = await session.predict(setup.images, setup.count)
      port.postMessage([id, 0, output], [output.buffer as ArrayBuffer])
    } catch (error) {
      port.postMessage([id, 1, error instanceof Error ? error.stack ?? error.message : String(error)])
    }
  })
  port.postMessage("ready")
} catch (error) {
  port.postMessage(["failed", error instanceof Error ? error.stack ?? error.message : String(error)])
}
