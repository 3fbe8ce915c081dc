/** A bare worker thread: the floor of starting a thread and hearing from it. */
import { parentPort } from "node:worker_threads"

parentPort!.postMessage("ready")
