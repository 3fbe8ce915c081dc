/**
 * A live page of a pool: a subscriber that keeps what the page shows (workers and what they run,
 * throughput over time, running maps, the slowest tasks and actor calls, recent failures), the
 * page itself, and its JSON state.
 *
 * Contains `DashboardState` (`onEvent` is the listener; `snapshot()` is the page's data), `follow`,
 * which subscribes one to a pool, and `page`, the HTML, which polls the state every 500 ms and draws it without any library.
 */
import type { OutcomeName, PoolEvent, PoolEvents, PoolStats, WorkerExitKind } from "../../core/PoolEvent.ts"
import { renderInput } from "../../core/TaskError.ts"
import { poolClock } from "../protocol/protocol.ts"
import { Insights, type Report } from "./Insights.ts"

/** Throughput is kept per second for this many seconds. */
const historySeconds = 120
const failuresKept = 10
const mapsKept = 8
/** Workers that ended, shown (the latest): a recycling pool ends one per `maxTasksPerWorker` tasks. */
const endedKept = 16

export interface WorkerView {
  readonly workerId: number
  readonly state: "starting" | "idle" | "busy" | "stopping" | "dead"
  /** A replacement of a worker that died. */
  readonly replacement: boolean
  /** The task it runs (the oldest it holds), when busy. */
  readonly task: string | undefined
  readonly held: number
  readonly done: number
  readonly exit: WorkerExitKind | undefined
}

export interface MapView {
  readonly submission: number
  readonly taskName: string
  readonly count: number
  readonly succeeded: number
  readonly failed: number
  readonly startedAt: number
  readonly endedAt: number | undefined
  /** Its caller gave up on it (interrupted, or it failed fast): it ended before all its tasks settled. */
  readonly cancelled: boolean
}

export interface FailureView {
  readonly at: number
  readonly taskName: string
  readonly taskId: number
  readonly workerId: number
  readonly attempt: number
  readonly outcome: OutcomeName
  readonly input: string
}

/** A row of the page's slowest: a task or an actor method call, said by `kind`. */
export interface SlowView {
  readonly kind: "task" | "actor call"
  /** The task's name, or the call's `Actor.method`. */
  readonly name: string
  /** The task's or the call's id. */
  readonly id: number
  readonly workerId: number
  readonly millis: number
  /** A task's bounded input rendering; a call's payload is not in the pool's events. */
  readonly input: string | undefined
}

export interface Snapshot {
  readonly at: number
  readonly stats: PoolStats
  readonly workers: ReadonlyArray<WorkerView>
  /** Tasks settled per second, oldest first, ending with the current second. */
  readonly throughput: ReadonlyArray<number>
  readonly settled: number
  readonly maps: ReadonlyArray<MapView>
  readonly failures: ReadonlyArray<FailureView>
  /** The insights' slowest tasks and slowest actor calls in one list, slowest first. */
  readonly slowest: ReadonlyArray<SlowView>
  /** The insights' report, with rows (`workers`) of the workers in `workers` only; its totals are every worker's. */
  readonly insights: Report | undefined
}

interface WorkerRecord {
  readonly workerId: number
  state: WorkerView["state"]
  readonly replacement: boolean
  /** What it holds, in dispatch order, by task id: the task's name and its submission. */
  readonly held: Map<number, { readonly taskName: string; readonly submission: number }>
  done: number
  exit: WorkerExitKind | undefined
}

interface SubmissionRecord {
  readonly submission: number
  readonly taskName: string
  readonly count: number
  /** Its encoded inputs, to render a failure's: let go when it ends (the page keeps the last maps). */
  payloads: ReadonlyArray<unknown>
  readonly startedAt: number
  succeeded: number
  failed: number
  endedAt: number | undefined
  cancelled: boolean
}

/** What the page follows of a pool (its client). */
export interface Followed {
  readonly events: PoolEvents
  readonly stats: () => PoolStats
  readonly readyWorkers?: (() => ReadonlyArray<number>) | undefined
}

/**
 * The page's state of `pool`, subscribed until `close`. Per-worker ratios come from `insights`
 * (the pool's own) when given, else from a collector started now. Its time is the clock of the
 * pool's events — virtual in a simulation, where the wall clock would be another timeline.
 */
export const follow = (
  pool: Followed,
  insights: Insights | undefined
): { readonly state: DashboardState; readonly close: () => void } => {
  const events = pool.events
  const now = events.now === undefined ? poolClock : () => events.now!()
  const ready = pool.readyWorkers?.() ?? []
  let unsubscribeOwn: (() => void) | undefined
  if (insights === undefined) {
    const own = new Insights(now)
    const at = now()
    for (const workerId of ready) {
      own.onEvent({ _tag: "WorkerStarting", at, workerId, replacement: false })
      own.onEvent({ _tag: "WorkerReady", at, workerId, initStartedAt: at })
    }
    unsubscribeOwn = events.subscribe({
      onEvent: own.onEvent,
      onSettled: own.onSettled,
      onDispatched: own.onDispatched,
      onCancelledRun: own.onCancelledRun,
      timings: true
    })
    insights = own
  }
  const state = new DashboardState(now, () => pool.stats(), insights, ready)
  const unsubscribe = events.subscribe({ onEvent: state.onEvent })
  return {
    state,
    close: () => {
      unsubscribe()
      unsubscribeOwn?.()
    }
  }
}

export class DashboardState {
  private readonly now: () => number
  private readonly stats: () => PoolStats
  private readonly insights: Insights | undefined
  private readonly workers = new Map<number, WorkerRecord>()
  /** The workers that ended and are still shown, oldest first. */
  private readonly ended: Array<number> = []
  private readonly submissions = new Map<number, SubmissionRecord>()
  /** The maps shown: running ones and the last finished ones. */
  private maps: Array<SubmissionRecord> = []
  private failures: Array<FailureView> = []
  private readonly perSecond = new Float64Array(historySeconds)
  private second = 0
  private settled = 0

  constructor(now: () => number, stats: () => PoolStats, insights: Insights | undefined, workerIds: ReadonlyArray<number>) {
    this.now = now
    this.stats = stats
    this.insights = insights
    this.second = Math.floor(now() / 1000)
    // Workers that were ready before the page subscribed.
    for (const workerId of workerIds) this.workers.set(workerId, record(workerId, "idle", false))
  }

  readonly onEvent = (event: PoolEvent): void => {
    switch (event._tag) {
      case "Settled":
        return this.settle(event)
      case "Dispatched": {
        const worker = this.workers.get(event.workerId)
        if (worker === undefined) return
        for (const task of event.tasks) {
          const taskName = this.submissions.get(task.submission)?.taskName ?? "?"
          worker.held.set(task.taskId, { taskName, submission: task.submission })
        }
        worker.state = "busy"
        return
      }
      case "Requeued":
        for (const worker of this.workers.values()) worker.held.delete(event.taskId)
        return
      case "Submitted": {
        const submission: SubmissionRecord = {
          submission: event.submission,
          taskName: event.taskName,
          count: event.count,
          payloads: event.payloads,
          startedAt: event.at,
          succeeded: 0,
          failed: 0,
          endedAt: undefined,
          cancelled: false
        }
        this.submissions.set(event.submission, submission)
        if (event.count > 1) this.maps = [...this.maps, submission].slice(-mapsKept)
        return
      }
      case "Cancelled": {
        const submission = this.submissions.get(event.submission)
        if (submission !== undefined) {
          submission.cancelled = true
          this.finish(submission, event.at)
        }
        // Its tasks on workers settle with no event: let them go now, or their workers would
        // show busy (and hold their entries) for the rest of the pool's life.
        for (const worker of this.workers.values()) {
          for (const [taskId, held] of worker.held) if (held.submission === event.submission) worker.held.delete(taskId)
          if (worker.held.size === 0 && worker.state === "busy") worker.state = "idle"
        }
        return
      }
      case "WorkerStarting":
        this.workers.set(event.workerId, record(event.workerId, "starting", event.replacement))
        return
      case "WorkerReady": {
        const worker = this.workers.get(event.workerId)
        if (worker !== undefined) worker.state = worker.held.size > 0 ? "busy" : "idle"
        // Starting when the page subscribed (a replacement): shown from now on.
        else this.workers.set(event.workerId, record(event.workerId, "idle", true))
        return
      }
      case "WorkerStopping": {
        const worker = this.workers.get(event.workerId)
        if (worker !== undefined) worker.state = "stopping"
        return
      }
      case "WorkerExited": {
        const worker = this.workers.get(event.workerId)
        if (worker === undefined) return
        worker.state = "dead"
        worker.exit = event.exit
        worker.held.clear()
        this.ended.push(event.workerId)
        if (this.ended.length > endedKept) this.workers.delete(this.ended.shift()!)
        return
      }
    }
  }

  private settle(event: Extract<PoolEvent, { readonly _tag: "Settled" }>): void {
    this.tick(event.at)
    this.perSecond[this.second % historySeconds]!++
    this.settled++
    const worker = this.workers.get(event.workerId)
    if (worker !== undefined) {
      worker.held.delete(event.taskId)
      worker.done++
      if (worker.held.size === 0 && worker.state === "busy") worker.state = "idle"
    }
    const submission = this.submissions.get(event.submission)
    if (submission === undefined) return
    if (event.outcome === "Success") submission.succeeded++
    else {
      submission.failed++
      const failure: FailureView = {
        at: event.at,
        taskName: submission.taskName,
        taskId: event.taskId,
        workerId: event.workerId,
        attempt: event.attempt,
        outcome: event.outcome,
        input: renderInput(submission.payloads[event.index])
      }
      this.failures = [failure, ...this.failures].slice(0, failuresKept)
    }
    if (submission.succeeded + submission.failed === submission.count) this.finish(submission, event.at)
  }

  private finish(submission: SubmissionRecord, at: number): void {
    submission.endedAt = at
    submission.payloads = []
    this.submissions.delete(submission.submission)
  }

  /** Moves the throughput window up to `at`, clearing the seconds it skipped. */
  private tick(at: number): void {
    const second = Math.floor(at / 1000)
    if (second <= this.second) return
    for (let s = Math.max(this.second + 1, second - historySeconds + 1); s <= second; s++) this.perSecond[s % historySeconds] = 0
    this.second = second
  }

  snapshot(): Snapshot {
    const at = this.now()
    this.tick(at)
    const throughput: Array<number> = []
    for (let s = this.second - historySeconds + 1; s <= this.second; s++) throughput.push(this.perSecond[((s % historySeconds) + historySeconds) % historySeconds]!)
    const workers: Array<WorkerView> = [...this.workers.values()].sort((a, b) => a.workerId - b.workerId).map((w) => ({
      workerId: w.workerId,
      state: w.state,
      replacement: w.replacement,
      task: w.state === "busy" ? w.held.values().next().value?.taskName : undefined,
      held: w.held.size,
      done: w.done,
      exit: w.exit
    }))
    const report = this.insights?.report()
    // Rows of the workers shown only: the pool's insights keep every worker that ever ran, and a
    // recycling pool's would grow every poll's answer for the pool's life. Totals stay whole.
    const shown = report === undefined ? undefined : new Set(workers.map((w) => w.workerId))
    const insights = report === undefined
      ? undefined
      : { ...report, workers: report.workers.filter((w) => shown!.has(w.workerId)) }
    return {
      at,
      stats: this.stats(),
      workers,
      throughput,
      settled: this.settled,
      maps: this.maps.map(({ payloads: _, ...map }) => map),
      failures: this.failures,
      slowest: insights === undefined ? [] : slowestOf(insights),
      insights
    }
  }
}

const record = (workerId: number, state: WorkerView["state"], replacement: boolean): WorkerRecord => ({
  workerId,
  state,
  replacement,
  held: new Map(),
  done: 0,
  exit: undefined
})

const slowestOf = (report: Report): Array<SlowView> =>
  [
    ...report.slowest.map((task): SlowView => ({
      kind: "task",
      name: task.taskName,
      id: task.taskId,
      workerId: task.workerId,
      millis: task.millis,
      input: task.input
    })),
    ...report.calls.slowest.map((call): SlowView => ({
      kind: "actor call",
      name: `${call.actor}.${call.method}`,
      id: call.callId,
      workerId: call.workerId,
      millis: call.millis,
      input: undefined
    }))
  ].sort((a, b) => b.millis - a.millis)

/** The page: static HTML whose script polls `state` (relative URL) every 500 ms. */
export const page = (title: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} — effect-parallel</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#1d2430;background:#f6f7f9}
h1{font-size:20px;margin:0 0 12px} h2{font-size:15px;margin:18px 0 6px}
.cards{display:flex;gap:10px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;background:#fff;border:1px solid #dde1e7}
td,th{padding:4px 10px;border-bottom:1px solid #eef0f3;text-align:left;font-variant-numeric:tabular-nums}
.busy{color:#0a7d32;font-weight:600}.idle{color:#6b7380}.dead{color:#b3261e;font-weight:600}.starting,.stopping{color:#9a6700}
.bar{background:#e6e9ee;border-radius:3px;width:200px;height:10px;display:inline-block;vertical-align:middle}
.bar i{display:block;height:10px;border-radius:3px;background:#3b82f6}.warn{color:#9a3412}
svg{background:#fff;border:1px solid #dde1e7}
</style></head><body>
<h1>${escapeHtml(title)} <small id="status" class="idle"></small></h1>
<div class="cards">
<div class="card">queued<b id="queued">-</b></div><div class="card">in flight<b id="inFlight">-</b></div>
<div class="card">workers ready<b id="ready">-</b></div><div class="card">tasks settled<b id="settled">-</b></div>
<div class="card">tasks/s<b id="rate">-</b></div><div class="card">efficiency<b id="efficiency">-</b></div>
</div>
<h2>Workers</h2><table id="workers"><thead><tr><th>worker</th><th>state</th><th>running</th><th>held</th><th>done</th><th>working</th><th>waiting</th><th>start-up + init</th></tr></thead><tbody></tbody></table>
<h2>Throughput (tasks settled per second, last 2 minutes)</h2><svg id="chart" width="600" height="80"></svg>
<h2>Maps</h2><table id="maps"><thead><tr><th>#</th><th>task</th><th>progress</th><th>done</th><th>failed</th></tr></thead><tbody></tbody></table>
<h2>Slowest tasks and actor calls</h2><table id="slowest"><thead><tr><th>ms</th><th>kind</th><th>task or method</th><th>worker</th><th>input</th></tr></thead><tbody></tbody></table>
<h2>Last failures</h2><table id="failures"><thead><tr><th>task</th><th>outcome</th><th>worker</th><th>attempt</th><th>input</th></tr></thead><tbody></tbody></table>
<p id="warning" class="warn"></p>
<script>
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c])
const rows = (id, list, cells) => { $(id).querySelector("tbody").innerHTML = list.map((x) => "<tr>" + cells(x).map((c) => "<td>" + c + "</td>").join("") + "</tr>").join("") }
const ms = (x) => x < 10 ? x.toFixed(2) : x.toFixed(0)
const pct = (x, of) => of > 0 ? (100 * x / of).toFixed(1) + "%" : "-"
async function refresh() {
  let s
  try { s = await (await fetch("state", { cache: "no-store" })).json() } catch { $("status").textContent = "(disconnected)"; return }
  $("status").textContent = "live"
  $("queued").textContent = s.stats.queued; $("inFlight").textContent = s.stats.inFlight
  $("ready").textContent = s.stats.readyWorkers + " / " + s.stats.workers; $("settled").textContent = s.settled
  $("rate").textContent = s.throughput[s.throughput.length - 2] ?? 0
  const ins = s.insights, byId = new Map((ins ? ins.workers : []).map((w) => [w.workerId, w]))
  $("efficiency").textContent = ins ? (100 * ins.efficiency).toFixed(1) + "%" : "-"
  rows("workers", s.workers, (w) => { const i = byId.get(w.workerId); return [w.workerId + (w.replacement ? " (replacement)" : ""),
    '<span class="' + w.state + '">' + w.state + (w.exit ? " (" + w.exit + ")" : "") + "</span>", esc(w.task ?? ""), w.held, w.done,
    i ? pct(i.working, i.wall) : "-", i ? pct(i.waiting, i.wall) : "-", i ? ms(i.startup + i.init) + " ms" : "-"] })
  const max = Math.max(1, ...s.throughput), w = 600 / s.throughput.length
  $("chart").innerHTML = s.throughput.map((n, k) => '<rect x="' + (k * w) + '" y="' + (80 - 78 * n / max) + '" width="' + Math.max(1, w - 1) + '" height="' + (78 * n / max) + '" fill="#3b82f6"/>').join("")
  rows("maps", s.maps.slice().reverse(), (m) => [m.submission, esc(m.taskName),
    '<span class="bar"><i style="width:' + (100 * (m.succeeded + m.failed) / m.count).toFixed(1) + '%"></i></span> ' + (m.cancelled ? "cancelled" : m.endedAt ? "done" : "running"),
    m.succeeded + " / " + m.count, m.failed])
  rows("slowest", s.slowest, (t) => [ms(t.millis), t.kind, esc(t.name) + " #" + t.id, t.workerId, t.input === undefined ? "-" : "<code>" + esc(t.input) + "</code>"])
  rows("failures", s.failures, (f) => [esc(f.taskName) + " #" + f.taskId, f.outcome, f.workerId, f.attempt, "<code>" + esc(f.input) + "</code>"])
  $("warning").textContent = ins && ins.warning ? "⚠ " + ins.warning : ""
}
refresh(); setInterval(refresh, 500)
</script></body></html>
`

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" })[c]!)
