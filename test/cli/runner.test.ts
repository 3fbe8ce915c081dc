/**
 * `effect-parallel runner`'s command line: its flags, and a module that cannot host anything named
 * as such. Runners at work are tested in test/api/Cluster.postgres.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const run = (...args: Array<string>) => runWith([], ...args)
const runWith = (nodeFlags: ReadonlyArray<string>, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=effect-parallel-source", ...nodeFlags, "src/cli/main.ts", ...args],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  })

describe("effect-parallel runner", () => {
  it("--help lists its flags", async () => {
    const { code, stdout } = await run("runner", "--help")
    assert.strictEqual(code, 0)
    for (const flag of ["--module", "--db", "--host", "--port", "--workers", "--failover"]) assert.include(stdout, flag)
  })

  // Was: exit 1 with the error logged with its stack, as a crash of the command is.
  it("names a module it cannot load, one whose default export is not a Cluster.host, a bad --failover and a bad --port: exit 2, no stack", async () => {
    const refused = (result: { code: number; stdout: string; stderr: string }, says: string) => {
      assert.strictEqual(result.code, 2, result.stderr)
      assert.include(result.stderr + result.stdout, says)
      assert.notInclude(result.stderr + result.stdout, "    at ", "a stack for a wrong argument")
    }
    refused(
      await run("runner", "--module", "test/fixtures/no-such-host.ts", "--db", "postgres://x@127.0.0.1:1/x"),
      "cannot load module test/fixtures/no-such-host.ts"
    )
    refused(
      await run("runner", "--module", "test/fixtures/worker.ts", "--db", "postgres://x@127.0.0.1:1/x"),
      "the default export of test/fixtures/worker.ts is not a Cluster.host"
    )
    for (const seconds of ["0", "0.001"]) {
      refused(
        await run("runner", "--module", "test/fixtures/cluster-actors.ts", "--db", "postgres://x@127.0.0.1:1/x", "--failover", seconds),
        `--failover must be at least 1 second, got ${Number(seconds)}`
      )
    }
    // Port 0 listened on a port of the OS's choice but registered port 0 for the others to call.
    refused(
      await run("runner", "--module", "test/fixtures/cluster-actors.ts", "--db", "postgres://x@127.0.0.1:1/x", "--port", "0"),
      "--port must be a port number from 1 to 65535, got 0"
    )
  })

  // Was: Cluster.layerPostgres's defect, logged with its stack.
  it("without the optional peer @effect/sql-pg, says what to install", async () => {
    const result = await runWith(
      ["--import", "./test/fixtures/hide-sql-pg.ts"],
      "runner",
      "--module",
      "test/fixtures/cluster-actors.ts",
      "--db",
      "postgres://x@127.0.0.1:1/x"
    )
    assert.strictEqual(result.code, 1, result.stderr)
    assert.include(result.stderr, "npm install @effect/sql-pg")
    assert.notInclude(result.stderr + result.stdout, "    at ", "a stack for a package to install")
  })
})
