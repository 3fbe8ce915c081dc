/**
 * The pipeline scenario runs end to end in its quick mode (`npm run bench -- pipeline --quick`),
 * and its record has the rows DESIGN §5 and the issue name, each checked against its expected
 * output. Small counts; no timing is asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

describe("bench pipeline --quick", () => {
  it("prints its table and writes a record with every row, each check ok", async () => {
    const folder = mkdtempSync(join(tmpdir(), "bench-pipeline-"))
    try {
      const { code, stderr, stdout } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ["--conditions=effect-parallel-source", "bench/run.ts", "pipeline", "--quick"],
          { cwd: root, timeout: 120_000, env: { ...process.env, BENCH_RESULTS_DIR: folder } },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
        )
      })
      assert.strictEqual(code, 0, stderr)
      assert.match(stdout, /^variant\s+payload\s+elements\s+seconds/m)
      const record = JSON.parse(readFileSync(join(folder, "pipeline.json"), "utf8"))
      assert.strictEqual(record.scenario, "pipeline")
      const rows = record.results as ReadonlyArray<{ variant: string; payload?: string; throughput: number | null; seconds: number | null; check: string }>
      for (const payload of ["record", "float64"]) {
        for (const variant of ["effect-parallel/channel", "messagechannel/per-element", "messagechannel/batched"]) {
          const row = rows.find((r) => r.variant === variant && r.payload === payload)
          assert.isDefined(row, `${variant} ${payload}`)
          assert.strictEqual(row!.check, "ok", `${variant} ${payload}`)
          assert.isAbove(row!.throughput!, 0)
        }
      }
      for (const variant of ["effect-parallel/pipeline", "barrier", "serial"]) {
        const row = rows.find((r) => r.variant === variant)
        assert.strictEqual(row?.check, "ok", variant)
        assert.isAbove(row!.seconds!, 0)
      }
      assert.strictEqual(record.notes.longRun.check, "ok")
      assert.strictEqual(record.notes.longRun.rssMBEvery10Percent.length, 10)
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  }, 120_000)
})
