/**
 * Sees inside a pool: insights printed when it closes, a traced call whose span continues in the
 * worker, a timeline file for Perfetto, and the live dashboard, then prints where to look.
 *
 * `npm run example -- observability` runs it for a few seconds; `EP_DASHBOARD_SECONDS=60` keeps the
 * dashboard up for a minute so that you can open it in a browser while maps run.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { Observe, Task, WorkerPool } from "effect-parallel"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImageTasks, Lookup, Resize } from "./tasks.ts"

// `insights: true` prints how each worker spent its time when the pool closes.
const Pool = WorkerPool.layer(ImageTasks, { entry: new URL("./worker.ts", import.meta.url), size: 2, insights: true })

/** Keeps the spans this program makes, to show the trace that crossed into the workers. */
const spans: Array<Tracer.NativeSpan> = []
const tracer = Tracer.make({
  span(options) {
    const span = new Tracer.NativeSpan(options)
    spans.push(span)
    return span
  }
})

const images = (n: number) => Array.from({ length: n }, (_, i) => ({ image: `photo-${i}.jpg`, millis: 5 + (i % 7) * 4 }))

const program = Effect.gen(function*() {
  const timelineFile = join(tmpdir(), "effect-parallel-observability.json")
  yield* Observe.timeline(ImageTasks, { path: timelineFile })
  const url = yield* Observe.dashboard(ImageTasks, { port: Number(process.env.EP_DASHBOARD_PORT ?? 0), title: "observability example" })
  console.log(`dashboard: ${url} (live while the example runs)`)

  // A traced call: the handler's span, and the `resize` span it makes, come back into this tracer.
  yield* Task.run(Resize, { image: "cover.png", millis: 10 }).pipe(Effect.withSpan("handle request"))
  const root = spans.find((span) => span.name === "handle request")!
  const handler = spans.find((span) => span.name === "Resize")!
  const inner = spans.find((span) => span.name === "resize")!
  console.log(
    `trace ${root.traceId}: "handle request" → "Resize" (worker ${handler.attributes.get("effect_parallel.worker_id")}) → "resize"; ` +
      `one trace id: ${handler.traceId === root.traceId && inner.traceId === root.traceId}`
  )

  // Maps for the insights, the timeline and the page; then a failing call for its "last failures".
  const seconds = Number(process.env.EP_DASHBOARD_SECONDS ?? 0)
  const until = Date.now() + seconds * 1000
  do {
    yield* Task.map(Resize, images(120))
  } while (Date.now() < until)
  const failed = yield* Effect.flip(Task.run(Lookup, { image: "missing-42.png" }))
  console.log(`a failure for the dashboard: ${failed._tag}`)

  const state = yield* Effect.promise(() => fetch(`${url}/state`).then((r) => r.json() as Promise<Observe.DashboardSnapshot>))
  console.log(`dashboard state: ${state.settled} tasks settled, ${state.workers.length} workers, ${state.failures.length} failure(s) listed`)
  const report = yield* Observe.insights(ImageTasks)
  console.log(`insights so far: ${report.total.tasks} tasks, efficiency ${(report.efficiency * 100).toFixed(1)}%`)
  console.log(`timeline: ${timelineFile} (written when the scope closes; open it in https://ui.perfetto.dev)`)
}).pipe(Effect.scoped)

program.pipe(
  Effect.provide(Pool),
  Effect.provideService(Tracer.Tracer, tracer),
  Effect.andThen(Effect.sync(() => console.log(`workers left running: ${WorkerPool.liveThreads()}`))),
  NodeRuntime.runMain
)
