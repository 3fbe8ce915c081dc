#!/usr/bin/env node
/**
 * The `effect-parallel` command's entry (package.json `bin`): checks the Node version, then loads
 * the command (main.ts). The command's modules use APIs an older Node lacks, and Node links a
 * module's static imports before running any of it: on Node 20 (many machines' default) the user
 * got a SyntaxError about `node:worker_threads` and the loader's stack instead of the version to
 * install. So this file imports nothing that an older Node cannot link.
 */
import { createRequire } from "node:module"

const { engines } = createRequire(import.meta.url)("../../package.json") as { engines: { node: string } }
const oldest = engines.node.replace(/^>=\s*/, "")

if (olderThan(process.versions.node, oldest)) {
  process.stderr.write(
    `effect-parallel needs Node.js ${oldest} or newer; this is ${process.versions.node} (${process.execPath})\n`
  )
  process.exitCode = 1
} else {
  await import("./main.ts")
}

/** Whether dotted version `a` comes before `b` (`20.20.2` before `22.19.0`). */
function olderThan(a: string, b: string): boolean {
  const [x, y] = [a, b].map((version) => version.split(".").map(Number))
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const d = (x![i] ?? 0) - (y![i] ?? 0)
    if (d !== 0) return d < 0
  }
  return false
}
