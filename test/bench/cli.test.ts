/**
 * The benchmark harness's command line, without running a benchmark: `--help` lists every scenario
 * and option, a mistake (unknown scenario, option or variant) is named and exits with code 2, and
 * `bench:chart` draws an SVG from records. The benchmarks themselves are never run by `npm test`.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

const node = (...args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // As `npm run bench` runs it: `effect-parallel` resolves to the sources.
    execFile(process.execPath, ["--conditions=effect-parallel-source", ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

describe("bench command line", () => {
  it("--help lists every scenario and every option", async () => {
    const { code, stdout } = await node("bench/run.ts", "--help")
    assert.strictEqual(code, 0)
    for (const scenario of ["overhead", "numerical", "stateful", "model", "serving", "cluster", "pipeline"]) assert.match(stdout, new RegExp(`^  ${scenario} `, "m"))
    for (const option of ["--quick", "--workers", "--variants", "--passes", "--help"]) {
      assert.match(stdout, new RegExp(`^  ${option}`, "m"))
    }
    assert.include(stdout, "npm run bench:chart")
  })

  it("names an unknown scenario, option or variant and exits with code 2", async () => {
    const scenario = await node("bench/run.ts", "nope")
    assert.strictEqual(scenario.code, 2)
    assert.include(scenario.stderr, "unknown scenario: nope")
    assert.include(scenario.stderr, "--passes n")

    const option = await node("bench/run.ts", "stateful", "--pases", "3")
    assert.strictEqual(option.code, 2)
    assert.include(option.stderr, "unknown option: --pases")
    assert.notInclude(option.stderr, "    at ") // a usage mistake, not a stack trace

    const value = await node("bench/run.ts", "stateful", "--passes", "zero")
    assert.strictEqual(value.code, 2)
    assert.include(value.stderr, "--passes: not a positive integer: zero")

    const servingVariant = await node("bench/run.ts", "serving", "--variants", "nope")
    assert.strictEqual(servingVariant.code, 2)
    assert.include(servingVariant.stderr, "unknown variant nope; serving has effect-parallel/batched")

    const variant = await node("bench/run.ts", "stateful", "--variants", "nope")
    assert.strictEqual(variant.code, 2)
    assert.include(variant.stderr, "unknown variant nope; known: serial")
  })

  it("bench:chart draws every record's ratios at its largest worker count", async () => {
    const folder = mkdtempSync(join(tmpdir(), "bench-chart-"))
    try {
      const row = (variant: string, workers: number, ratio: number) =>
        ({ variant, workers, seconds: 1, throughput: null, peakRssMB: 100, ratio, check: "ok" })
      writeFileSync(
        join(folder, "numerical.json"),
        JSON.stringify({
          scenario: "numerical",
          cores: 2,
          node: "v24.0.0",
          date: "2026-01-02T00:00:00.000Z",
          baseline: "serial",
          results: [row("serial", 1, 1), row("effect-parallel/shared", 1, 0.98), row("serial", 2, 1), row("effect-parallel/shared", 2, 1.37), row("raw-threads/shared", 2, 1.61)],
          notes: {}
        })
      )
      const out = join(folder, "chart.svg")
      const { code, stderr } = await node("bench/chart.ts", "--results", folder, "--out", out)
      assert.strictEqual(code, 0, stderr)
      const svg = readFileSync(out, "utf8")
      assert.match(svg, /^<svg /)
      assert.include(svg, "numerical: shared-array convolution")
      assert.include(svg, "1.37×")
      assert.include(svg, "1.61×")
      assert.notInclude(svg, "0.98×") // one worker: not the largest count

      const empty = await node("bench/chart.ts", "--results", join(folder, "none"), "--out", out)
      assert.strictEqual(empty.code, 1)
      assert.include(empty.stderr, "run `npm run bench -- <scenario>` first")
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
