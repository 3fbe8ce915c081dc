/** `effect-parallel info` and the root command, run as a user runs them: a child Node process. */
import { assert, describe, it } from "@effect/vitest"
import { execFile, execFileSync } from "node:child_process"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import { ProcessBackend } from "../../src/index.ts"

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))
const run = (...args: Array<string>) =>
  execFileSync(process.execPath, ["--conditions=effect-parallel-source", main, ...args], { encoding: "utf8" })
const runFailing = (...args: Array<string>) =>
  new Promise<{ code: number; output: string }>((resolve) =>
    execFile(process.execPath, ["--conditions=effect-parallel-source", main, ...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: stdout + stderr }))
  )

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

  // Was: 1, the code of a command that ran and failed; a script could not tell a typo from a crash.
  it("a command line it cannot parse exits 2, the usage-error code, saying what is wrong", async () => {
    for (
      const [args, says] of [
        [["bogus"], `Unknown subcommand "bogus"`],
        [["info", "extra"], `Unexpected positional argument: "extra"`],
        [["serve"], "Missing required argument: model"],
        [["serve", "--port"], "Missing value for flag --port"]
      ] as const
    ) {
      const result = await runFailing(...args)
      assert.strictEqual(result.code, 2, args.join(" "))
      assert.include(result.output, says)
      assert.notInclude(result.output, "    at ", "a stack for a typo")
    }
  })
})
