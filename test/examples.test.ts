/**
 * The examples run, exit cleanly and still print what they claim: each runs as a user would
 * (`npm run example -- <name>`, which is `node --conditions=effect-parallel-source
 * scripts/example.ts <name>`) in a child process, so an API change that breaks one, or a result
 * that stops agreeing, fails here instead of rotting unnoticed.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { findPostgres } from "./support/postgres.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (...args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      // The examples import `effect-parallel` by name; this condition resolves it to the sources (package.json `exports`).
      ["--conditions=effect-parallel-source", "scripts/example.ts", ...args],
      { cwd: root, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })

/** Runs an example and checks it exited 0, leaving no thread behind. */
const runOk = async (name: string) => {
  const result = await run(name)
  assert.strictEqual(result.code, 0, `${name} failed:\n${result.stderr}\n${result.stdout}`)
  assert.include(result.stdout, "workers left running: 0")
  return result.stdout
}

const postgres = await findPostgres()

describe("examples", () => {
  it("the runner lists the examples without a name, and refuses an unknown one", async () => {
    const list = await run()
    assert.strictEqual(list.code, 0)
    for (const name of ["actors", "channels", "demo", "isolation", "observability", "pipeline", "quickstart", "serving", "shared-arrays", "simulation", "worker-state"]) {
      assert.match(list.stdout, new RegExp(`^  ${name} +\\S`, "m"))
    }
    const unknown = await run("nope")
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "unknown example: nope")
    assert.include(unknown.stderr, "  simulation ")
  })

  // Was: shared-arrays imported its kernel from `src/workloads/convolve.ts`, which the package does
  // not ship: a copy of it next to the installed package did not run.
  it("an example imports only the package and its own files, so a copy of it runs", () => {
    // The repository's own demo (`npm start`) runs the benchmark workloads; serving builds its model with them.
    const inRepositoryOnly = new Set(["demo", "serving"])
    const examplesDir = new URL("../examples/", import.meta.url)
    const outside: Array<string> = []
    for (const name of readdirSync(examplesDir).filter((name) => !inRepositoryOnly.has(name))) {
      for (const file of readdirSync(new URL(`${name}/`, examplesDir), { recursive: true, encoding: "utf8" })) {
        if (!file.endsWith(".ts")) continue
        const text = readFileSync(new URL(`${name}/${file}`, examplesDir), "utf8")
        for (const [, from] of text.matchAll(/(?:from|import\()\s*"(\.\.\/[^"]*)"/g)) outside.push(`${name}/${file}: ${from}`)
      }
    }
    assert.deepStrictEqual(outside, [])
  })

  it("demo (npm start)", async () => {
    const out = await runOk("demo")
    for (const workload of ["convolution (shared image)", "prefix count (actors)", "model inference (actors)"]) {
      // workload, serial s, pool s, speed-up, same result
      assert.match(out, new RegExp(`'${workload.replace(/[()]/g, "\\$&")}'\\s*│\\s*'[\\d.]+'\\s*│\\s*'[\\d.]+'\\s*│\\s*'[\\d.]+x'\\s*│\\s*true`))
    }
    assert.include(out, "models loaded on the pool: 2 (one per actor)")
    assert.include(out, "NapTooLong (declared by the task): 5000 ms asked, 1000 allowed; instanceof NapTooLong: true")
    assert.include(out, `TaskError, reason PayloadInvalid at path ["millis"]`)
    assert.include(out, "TaskError, reason Timeout after 50 ms")
    assert.include(out, "TaskError, reason WorkerLost, exit Crashed")
    assert.include(out, "the pool replaced the crashed worker")
  }, 120_000)

  it("quickstart", async () => {
    const out = await runOk("quickstart")
    assert.include(out, "primes below 2,000,000: 148933")
    assert.include(out, "RangeTooLarge: 5000000 asked, limit 1000000")
  })

  it("shared-arrays", async () => {
    const out = await runOk("shared-arrays")
    assert.include(out, "results agree (parallel = serial, shared = copied): true")
    assert.match(out, /arena after 3 rounds and 3 puts: allocated 1, reused 5, live 0/)
  })

  it("actors", async () => {
    const out = await runOk("actors")
    assert.include(out, `count("zebra") → UnknownWord caught`)
    assert.include(out, "solo: journal closed, 4 entries")
    assert.match(out, /crash \(in flight when the worker died\) → WorkerLost/)
    assert.include(out, "0 words (fresh state)")
    assert.include(out, "next call → Unavailable (Dead")
  })

  it("serving", async () => {
    const out = await runOk("serving")
    assert.match(out, /listening on http:\/\/127\.0\.0\.1:\d+ \(ready\)/)
    assert.include(out, "64 requests: 64 answered 200")
    assert.match(out, /batches: \d+, mean batch [\d.]+ items \(max 32\)/)
    assert.include(out, "malformed body: 400 inputs[0]: expected 784 numbers, got 3")
    assert.include(out, `effect_parallel_serve_requests_total{deployment="mnist",status="200"} 64`)
    assert.strictEqual(out.match(/model released/g)?.length, 2)
  }, 120_000)

  it("worker-state", async () => {
    const out = await runOk("worker-state")
    assert.include(out, "results agree with a serial count: true")
    assert.include(out, "builds = pool size (3): true")
    assert.strictEqual(out.match(/exit hook: releasing the prime table/g)?.length, 3)
  })

  it("isolation", async () => {
    const out = await runOk("isolation")
    for (const document of [7, 23]) {
      assert.match(out, new RegExp(`document ${document}: TaskError, reason WorkerLost, exit Crashed, signal SIGABRT, attempts 2`))
    }
    assert.notMatch(out, /document (?!7:|23:)\d+: /, "no other document failed")
    assert.include(out, "parsed: 38 of 40; this process is still running")
    assert.include(out, "replacement worker processes: yes; still pinned: true")
    assert.include(out, "cpus on worker threads → PoolError, reason Unsupported (pinsCpus)")
  }, 120_000)

  it("observability", async () => {
    const out = await runOk("observability")
    assert.match(out, /^dashboard: http:\/\/127\.0\.0\.1:\d+ /m)
    assert.match(out, /trace [0-9a-f]{32}: "handle request" → "Resize" \(worker [01]\) → "resize"; one trace id: true/)
    assert.include(out, "a failure for the dashboard: UnknownImage")
    assert.match(out, /dashboard state: 122 tasks settled, 2 workers, 1 failure\(s\) listed/)
    assert.match(out, /timeline: .*effect-parallel-observability\.json/)
    // Printed when the pool closed: the insights table.
    assert.match(out, /effect-parallel insights \(times in ms/)
    assert.match(out, /\ntotal\s/)
  })

  it("channels", async () => {
    const out = await runOk("channels")
    assert.include(out, "results: 40, each job exactly once: true")
    assert.match(out, /jobs done per consumer: \d+ \+ \d+ = 40/)
    assert.include(out, "job 2 (mul 2 × 7) = 14")
    assert.include(out, `ChannelError, reason ValueInvalid at ["op"]`)
    assert.include(out, "ChannelError, reason TooLarge: the value encodes to 67 bytes")
    assert.include(out, "sum of 0 … 999999: 499999500000 (expected 499999500000: true)")
    assert.include(out, "sent 200, taken 200, highest sample 199 (expected 199)")
  })

  it("pipeline", async () => {
    const out = await runOk("pipeline")
    assert.strictEqual(out.match(/model loaded/g)?.length, 2, "one model per replica")
    assert.include(out, "documents: 200, classified: 197")
    assert.include(out, "input order kept: true")
    for (const id of [5, 72, 139]) assert.include(out, `skipped: document ${id} at stage Tokenize (EmptyDocument)`)
    assert.match(out, /scored per replica: \d+ \+ \d+ = 197/)
  })

  it("simulation", async () => {
    const out = await runOk("simulation")
    // The output says, before the failure, that the failure is the point, and what a replay is.
    const onPurpose = out.indexOf("Step 1 FAILS ON PURPOSE")
    const replay = out.indexOf("A replay: the seed and fault plan")
    assert.isAbove(onPurpose, -1)
    assert.isAbove(replay, -1)
    assert.isAbove(out.indexOf("falsified, as expected"), Math.max(onPurpose, replay))
    assert.match(out, /replay with Simulation\.run\(program, \{ seed: \d+, faults: /)
    assert.include(out, "identical: true")
    assert.match(out, /retries: 2 .*\n\s*Passed \(300 cases\)/)
  })

  it.skipIf(postgres === undefined)("cluster (PostgreSQL)", async () => {
    const result = await run("cluster")
    assert.strictEqual(result.code, 0, `cluster failed:\n${result.stderr}\n${result.stdout}`)
    const out = result.stdout
    assert.match(out, /^3 runners ready/m)
    assert.include(out, "3 runners did chunks; longest Collatz chain below 3,000: n = 2919, 216 steps")
    assert.match(out, /every counter answered again [\d.]+ s after the kill/)
    assert.include(out, "counts continued from 3 to 4 on every page: true")
    assert.include(out, "runner processes left running: 0")
  }, 120_000)
})
