/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
 * `playwright-core` through `executablePath`) loads the page while a map runs, and the worker rows
 * and numbers change as it runs. A screenshot goes to `test-artifacts/dashboard.png`.
 *
 * Where no Chromium can be found the test says so and is skipped; CI installs it
 * (`scripts/setup-chromium.sh`, called by `.ci/run`).
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { chromium } from "playwright-core"
import { Observe, Task, WorkerPool } from "../../src/index.ts"
import { ContractTasks, Sleep } from "../fixtures/tasks.ts"

const entry = new URL("../fixtures/worker.ts", import.meta.url)
const artifacts = new URL("../../test-artifacts/", import.meta.url)

const findChromium = (): string | undefined => {
  const configured = process.env.CHROMIUM_PATH
  if (configured !== undefined && existsSync(configured)) return configured
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim() || undefined
    } catch {
      // not on PATH
    }
  }
  return undefined
}

const executablePath = findChromium()
if (executablePath === undefined) {
  console.warn("dashboard browser test skipped: no chromium on PATH (apt-get install -y chromium, or set CHROMIUM_PATH)")
}

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe("dashboard in a browser", () => {
  it.live.skipIf(executablePath === undefined)("worker rows and numbers change while a map runs; a screenshot is saved", () =>
    Effect.gen(function*() {
      const url = yield* Observe.dashboard(ContractTasks, { port: 0, title: "dashboard test" })
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({
            executablePath: executablePath!,
            headless: true,
            args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
          })
        ),
        (browser) => Effect.promise(() => browser.close())
      )
      const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1000, height: 900 } }))
      const inputs = Array.from({ length: 60 }, (_, i) => ({ millis: 40 + (i % 5) * 10, marker: `m${i}` }))
      const running = yield* Effect.forkChild(Task.map(Sleep, inputs, { chunkSize: 1 }))
      yield* Effect.promise(() => page.goto(url))
      // Expressions run in the page (this project's TypeScript has no DOM types).
      yield* Effect.promise(() => page.waitForFunction(`document.querySelectorAll("#workers tbody tr").length === 2`))
      const read = async () => ({
        settled: Number(await page.locator("#settled").textContent()),
        rows: await page.locator("#workers tbody tr").allTextContents()
      })
      const first = yield* Effect.promise(read)
      yield* Effect.promise(() =>
        page.waitForFunction(`Number(document.getElementById("settled").textContent) > ${first.settled + 2}`, undefined, { timeout: 10_000 })
      )
      const later = yield* Effect.promise(read)
      assert.isAbove(later.settled, first.settled, "the settled count went up on the page")
      assert.isTrue([...first.rows, ...later.rows].some((row) => row.includes("busy") && row.includes("Sleep")), "a worker row showed it busy with Sleep")
      const progress = yield* Effect.promise(() => page.textContent("#maps tbody"))
      assert.match(progress!, /Sleep/)
      mkdirSync(artifacts, { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: new URL("dashboard.png", artifacts).pathname, fullPage: true }))
      yield* Fiber.join(running)
      yield* Effect.promise(() => page.waitForFunction(`document.getElementById("settled").textContent === "60"`, undefined, { timeout: 10_000 }))
      // The slowest table's rows (tasks and actor calls) are labelled by their kind.
      assert.match((yield* Effect.promise(() => page.textContent("#slowest tbody")))!, /taskSleep #\d+/)
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2, insights: { print: false } }))))
})
