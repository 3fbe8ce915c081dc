/**
 * The tasks `scripts/transfer.ts` times: a fresh result, and a round trip, each moved or copied.
 */
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "../src/index.ts"

const Moved = SharedArray.array("Float64", { memory: "moved" })
const Copied = SharedArray.array("Float64", { memory: "copied" })

export const MakeMoved = Task.make("MakeMoved", { payload: { length: Schema.Int }, success: Moved })
export const MakeCopied = Task.make("MakeCopied", { payload: { length: Schema.Int }, success: Copied })
export const EchoMoved = Task.make("EchoMoved", { payload: { values: Moved }, success: Moved })
export const EchoCopied = Task.make("EchoCopied", { payload: { values: Copied }, success: Copied })

export const TransferTasks = Task.group(MakeMoved, MakeCopied, EchoMoved, EchoCopied)
