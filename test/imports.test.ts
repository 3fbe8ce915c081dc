/**
 * What a worker thread loads for its task definitions: a definitions file imports the package's
 * root, so the root must not load the cluster engine or the HTTP stack at import (`Cluster` and
 * `Observe` load theirs on first use). Each is megabytes of every worker's heap and tens of
 * milliseconds of its start, and a larger heap makes every full collection of a worker slower.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const repo = fileURLToPath(new URL("..", import.meta.url))

/** Imports `specifier` in a fresh Node and answers every module URL it resolved. */
const resolvedBy = (specifier: string) =>
  new Promise<ReadonlyArray<string>>((resolve, reject) => {
    const script = `
      import { registerHooks } from "node:module"
      const seen = []
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r } })
      await import(${JSON.stringify(specifier)})
      console.log(JSON.stringify(seen))`
    execFile(process.execPath, ["--conditions=effect-parallel-source", "--input-type=module", "-e", script], { cwd: repo }, (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`${error.message}\n${stderr}`))
      resolve(JSON.parse(stdout) as ReadonlyArray<string>)
    })
  })

describe("imports", () => {
  it("the package's root loads neither effect/cluster nor effect/http until they are used", async () => {
    const urls = await resolvedBy("effect-parallel")
    assert.isTrue(urls.some((url) => url.endsWith("/src/api/Cluster.ts")), "the probe sees the root's modules")
    // Schema itself brings a few small effect/http modules (Headers, Cookies) and Cluster its
    // RunnerAddress; the engines are these.
    const heavy = urls.filter((url) =>
      /\/effect\/dist\/(cluster\/(Entity|Sharding|TestRunner)|http\/(HttpRouter|HttpServer)|rpc\/Rpc|observability\/PrometheusMetrics)\.js$/
        .test(url)
    )
    assert.deepStrictEqual(heavy, [])
  }, 60_000)
})
