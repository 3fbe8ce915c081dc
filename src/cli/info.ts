/**
 * `effect-parallel info`: what this machine offers a pool — cores, Node, what each backend can do
 * here (CPU pinning needs `taskset`, lower priority Linux) and the optional peers that are
 * installed. The first thing to run when a pool behaves differently on another machine.
 */
import { Console } from "effect"
import { Command } from "effect/cli"
import { availableParallelism, cpus, totalmem } from "node:os"
import { createRequire } from "node:module"
import { InlineBackend, ProcessBackend, ThreadBackend, type WorkerBackend } from "../index.ts"

const require = createRequire(import.meta.url)

/** The installed version of an optional peer, or undefined where it is missing. */
const installedVersion = (name: string): string | undefined => {
  try {
    return (require(`${name}/package.json`) as { version: string }).version
  } catch {
    return undefined
  }
}

/** Optional peers and what each one enables. */
const optionalPeers: ReadonlyArray<readonly [name: string, enables: string]> = [
  ["@effect/platform-node", "HTTP endpoints (metrics, dashboard, serving) and the commands"],
  ["@effect/sql-pg", "cluster storage on PostgreSQL"],
  ["onnxruntime-node", "the `serve` command's ONNX models"]
]

/** The backends a pool can run on, and how each capability reads in `info`. */
const backends: ReadonlyArray<WorkerBackend.Backend> = [ThreadBackend.backend, ProcessBackend.backend, InlineBackend.backend]
const capabilityNames: Record<keyof WorkerBackend.Capabilities, string> = {
  sharesMemory: "shared memory",
  canTerminate: "stops a stuck handler",
  isolatesCrashes: "isolates crashes",
  heapLimits: "heap limits",
  pinsCpus: "CPU pinning",
  lowersPriority: "lower priority"
}

export const report = (): string => {
  const lines = [
    `effect-parallel ${installedVersion("effect-parallel") ?? "(source checkout)"}`,
    `node            ${process.version} (${process.platform}/${process.arch})`,
    `effect          ${installedVersion("effect") ?? "missing"}`,
    `cores           ${availableParallelism()} usable of ${cpus().length}`,
    `memory          ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `shared memory   ${typeof SharedArrayBuffer === "function" ? "yes" : "no (SharedArrayBuffer unavailable)"}`,
    "backends:"
  ]
  for (const { capabilities, name } of backends) {
    const can = (Object.keys(capabilityNames) as Array<keyof WorkerBackend.Capabilities>).filter((key) => capabilities[key])
    lines.push(`  ${name.padEnd(14)}${can.map((key) => capabilityNames[key]).join(", ")}`)
  }
  lines.push("optional peers:")
  for (const [name, enables] of optionalPeers) {
    const version = installedVersion(name)
    lines.push(`  ${name.padEnd(24)}${version === undefined ? "missing " : version.padEnd(8)} ${enables}`)
  }
  return lines.join("\n")
}

export const info = Command.make("info", {}, () => Console.log(report())).pipe(
  Command.withDescription("Print the cores, Node version, backends and optional features available here")
)

