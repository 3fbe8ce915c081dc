/**
 * Child-process side of `runInChild` (see `child.ts` for the protocol).
 */
import type { ChildMessage } from "./child.ts"

const send = (message: ChildMessage): Promise<void> =>
  new Promise((resolve) => {
    process.send!(message, undefined, {}, () => resolve())
  })

const main = async (): Promise<void> => {
  const task = JSON.parse(process.argv[2]!) as { module: string; export: string; input: unknown }
  try {
    const mod = await import(task.module) as Record<string, unknown>
    const f = mod[task.export]
    if (typeof f !== "function") throw new Error(`${task.module} has no exported function ${task.export}`)
    const value = await (f as (input: unknown) => Promise<unknown>)(task.input)
    await send({ _tag: "Done", value, maxRSSKB: process.resourceUsage().maxRSS })
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    process.exitCode = 1
    await send({ _tag: "Failed", message: e.message, stack: e.stack })
  }
  // Without the IPC channel nothing of ours is left: the process exits as soon
  // as the variant's own resources are gone.
  process.disconnect()
}

void main()
