/** `effect-parallel info` and the root command, run as a user runs them: a child Node process. */
import { assert, describe, it } from "@effect/vitest"
import { execFile, execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
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

  // Was: on Node 20 (a machine's default), linking the command's modules failed with a SyntaxError
  // (`node:worker_threads` has no `isMarkedAsUntransferable`) and the loader's stack.
  it("on a Node older than its engines, the installed command says which Node it needs", async () => {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
    // The command's bin, run from the sources as the build runs from dist.
    const bin = fileURLToPath(new URL(`../../${manifest.bin["effect-parallel"].replace("./dist/", "src/").replace(/\.js$/, ".ts")}`, import.meta.url))
    const node20 = `data:text/javascript,Object.defineProperty(process.versions, "node", { value: "20.20.2" })`
    const result = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile(process.execPath, ["--conditions=effect-parallel-source", "--import", node20, bin, "info"], (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: stdout + stderr }))
    )
    assert.strictEqual(result.code, 1, result.output)
    assert.include(result.output, `effect-parallel needs Node.js ${manifest.engines.node.replace(/^>=\s*/, "")} or newer; this is 20.20.2`)
    assert.notInclude(result.output, "    at ")
  })
})
