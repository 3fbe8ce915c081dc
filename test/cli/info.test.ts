/** `effect-parallel info` and the root command, run as a user runs them: a child Node process. */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import { ProcessBackend } from "../../src/index.ts"

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))
const run = (...args: Array<string>) =>
  execFileSync(process.execPath, ["--conditions=effect-parallel-source", main, ...args], { encoding: "utf8" })

describe("effect-parallel command", () => {
  it("info names the usable cores and each optional peer", () => {
    const out = run("info")
    assert.match(out, new RegExp(`cores\\s+${availableParallelism()} usable`))
    for (const peer of ["@effect/platform-node", "@effect/sql-pg", "onnxruntime-node"]) {
      assert.include(out, peer)
    }
  })

  it("info lists the backends and what each can do here", () => {
    const out = run("info")
    const line = (name: string) => new RegExp(`^  ${name}\\s+(.*)$`, "m").exec(out)?.[1]
    assert.include(line("threads"), "shared memory")
    assert.notInclude(line("processes"), "shared memory")
    assert.include(line("inline"), "shared memory")
    // CPU pinning on processes depends on this machine (taskset), and info says which.
    assert.strictEqual(line("processes")?.includes("CPU pinning"), ProcessBackend.backend.capabilities.pinsCpus)
  })

  it("--help lists the subcommands", () => {
    assert.match(run("--help"), /SUBCOMMANDS[\s\S]*info/)
  })
})
