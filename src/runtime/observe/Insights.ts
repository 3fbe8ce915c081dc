/**
 * Insights: how each worker of a pool spent its time (MPIRE's `enable_insights`, and more), as a
 * subscriber of the pool's events with handler timings on.
 *
 * Contains the collector (`Insights`: `onEvent` is the listener), its `Report` model, and
 * `render`, which prints a report as a table with an efficiency warning and a hint of the likely
 * cause.
 *
 * A worker's wall time (from `WorkerStarting` to `WorkerExited`, or now) is split into start-up
 * (thread and entry loading, until the worker began building its per-worker Layer), init (that
 * Layer), working (its handlers ran: the sum of each task's and actor call's `endedAt - startedAt`,
 * measured in the worker, cancelled ones' included), exit (from `WorkerStopping` to `WorkerExited`: exit hooks), and waiting (the rest, while
 * ready: for work to arrive, and the per-task overhead between handlers). The parts add up to the
 * wall time by construction; each is measured, not estimated, except waiting.
 *
 * Actor method calls have their own percentiles, outcomes and slowest list (`Report.calls`): a
 * method's run is not a task's (an actor's calls wait for each other, a method may hold a model for
 * seconds), and mixed in they would skew the tasks' percentiles and the warning read from them.
 */
import { type OnSettled, type OutcomeName, type PoolEvent, settledTo, type WorkerExitKind } from "../../core/PoolEvent.ts"
import { renderInput } from "../../core/TaskError.ts"
import { Histogram, type Percentiles } from "./Histogram.ts"
import { Submissions } from "./Submissions.ts"

/** How many slow tasks a report names. */
const slowestKept = 5
/**
 * Workers that exited, listed (the latest): a recycling pool ends one per `maxTasksPerWorker`
 * tasks, and a row each would grow the collector, every report and the printed table for the
 * pool's life. Earlier ones are summed (`Report.earlierWorkers`).
 */
const exitedKept = 64

export interface WorkerInsight {
  readonly workerId: number
  readonly state: "starting" | "ready" | "stopping" | "exited"
  readonly exit: WorkerExitKind | undefined
  /** Milliseconds. */
  readonly startup: number
  readonly init: number
  readonly waiting: number
  readonly working: number
  readonly exitTime: number
  readonly wall: number
  /** Tasks and actor calls whose handler ran on it and whose caller took the answer (any outcome; a cancelled one's time is in `working` only). */
  readonly tasks: number
}

export interface SlowTask {
  readonly taskName: string
  readonly taskId: number
  readonly workerId: number
  readonly attempt: number
  readonly millis: number
  /** A bounded rendering of its (encoded) payload. */
  readonly input: string
}

/** An actor method call among the slowest (a call's payload is not in the pool's events: no input). */
export interface SlowCall {
  readonly actor: string
  readonly method: string
  readonly callId: number
  readonly workerId: number
  readonly millis: number
}

/** Actor method calls, apart from tasks. */
export interface CallsReport {
  /** Method run time (measured in the worker), and queue wait (from the call to the method's start), in milliseconds. */
  readonly runTime: Percentiles
  readonly queueWait: Percentiles
  readonly outcomes: Readonly<Partial<Record<OutcomeName, number>>>
  readonly slowest: ReadonlyArray<SlowCall>
}

export interface Report {
  /** The workers not exited, and the last 64 that exited. */
  readonly workers: ReadonlyArray<WorkerInsight>
  /** Workers that exited before those listed: in `total`, not listed. */
  readonly earlierWorkers: number
  /** The sums over every worker, listed or not. */
  readonly total: Omit<WorkerInsight, "workerId" | "state" | "exit">
  /** Working time over wall time, over every worker (0–1). */
  readonly efficiency: number
  /** Handler run time, and queue wait (from submission to the handler's start), in milliseconds. */
  readonly runTime: Percentiles
  readonly queueWait: Percentiles
  readonly outcomes: Readonly<Partial<Record<OutcomeName, number>>>
  readonly slowest: ReadonlyArray<SlowTask>
  /** Actor method calls: their percentiles, outcomes and slowest (workers' `working` and `tasks` count them too). */
  readonly calls: CallsReport
  /** Set when efficiency is under 80%: what is wrong, and the likely cure. */
  readonly warning: string | undefined
}

interface WorkerRecord {
  readonly workerId: number
  readonly startingAt: number
  initStartedAt: number | undefined
  readyAt: number | undefined
  stoppingAt: number | undefined
  exitedAt: number | undefined
  exit: WorkerExitKind | undefined
  working: number
  tasks: number
}

interface SubmissionRecord {
  readonly at: number
  readonly taskName: string
  readonly payloads: ReadonlyArray<unknown>
  remaining: number
}

export class Insights {
  private readonly now: () => number
  private readonly workers = new Map<number, WorkerRecord>()
  private readonly submissions = new Submissions<SubmissionRecord>()
  private readonly runTime = new Histogram()
  private readonly queueWait = new Histogram()
  private readonly outcomes: Partial<Record<OutcomeName, number>> = {}
  /** The slowest tasks, slowest first; `slowFloor` is the last one's time once it is full. */
  private slowest: Array<SlowTask> = []
  private slowFloor = -1
  /** Actor calls not answered yet: when they were made, to what. */
  private readonly calls = new Map<number, { readonly at: number; readonly actor: string; readonly method: string }>()
  private readonly callRunTime = new Histogram()
  private readonly callQueueWait = new Histogram()
  private readonly callOutcomes: Partial<Record<OutcomeName, number>> = {}
  private slowestCalls: Array<SlowCall> = []
  /** The previous settled task's worker (`onSettled`). */
  private lastWorker: WorkerRecord | undefined = undefined
  /** The listed workers that exited, oldest first; and the parts of those no longer listed, summed. */
  private readonly exited: Array<WorkerRecord> = []
  private earlier = { startup: 0, init: 0, waiting: 0, working: 0, exitTime: 0, wall: 0, tasks: 0 }
  private earlierWorkers = 0

  /** `now`: the pool's clock, for workers still running when a report is made. */
  constructor(now: () => number) {
    this.now = now
  }

  readonly onEvent = (event: PoolEvent): void => {
    switch (event._tag) {
      case "Settled":
        return settledTo(this.onSettled, event)
      case "Submitted":
        this.submissions.add(event.submission, {
          at: event.at,
          taskName: event.taskName,
          payloads: event.payloads,
          remaining: event.count
        })
        return
      case "Cancelled":
        this.submissions.cancel(event.submission)
        return
      case "WorkerStarting":
        this.workers.set(event.workerId, {
          workerId: event.workerId,
          startingAt: event.at,
          initStartedAt: undefined,
          readyAt: undefined,
          stoppingAt: undefined,
          exitedAt: undefined,
          exit: undefined,
          working: 0,
          tasks: 0
        })
        return
      case "WorkerReady": {
        let worker = this.workers.get(event.workerId)
        if (worker === undefined) {
          // Starting when a collector subscribed late (the dashboard's): followed from now.
          this.onEvent({ _tag: "WorkerStarting", at: event.at, workerId: event.workerId, replacement: true })
          worker = this.workers.get(event.workerId)!
        }
        worker.readyAt = event.at
        // Another thread's clock: kept within what the pool saw.
        if (event.initStartedAt !== undefined) {
          worker.initStartedAt = Math.min(event.at, Math.max(worker.startingAt, event.initStartedAt))
        }
        return
      }
      case "WorkerStopping": {
        const worker = this.workers.get(event.workerId)
        if (worker !== undefined) worker.stoppingAt = event.at
        return
      }
      case "WorkerExited": {
        const worker = this.workers.get(event.workerId)
        if (worker === undefined) return
        worker.exitedAt = event.at
        worker.exit = event.exit
        this.exited.push(worker)
        if (this.exited.length > exitedKept) this.fold(this.exited.shift()!)
        return
      }
      case "ActorCall":
        this.calls.set(event.callId, { at: event.at, actor: event.actor, method: event.method })
        return
      case "ActorCancel":
        this.calls.delete(event.callId)
        return
      case "ActorAnswer": {
        const call = this.calls.get(event.callId)
        this.calls.delete(event.callId)
        this.callOutcomes[event.outcome] = (this.callOutcomes[event.outcome] ?? 0) + 1
        if (event.startedAt === undefined || event.endedAt === undefined) return
        const millis = event.endedAt - event.startedAt
        this.callRunTime.record(millis)
        if (call !== undefined) this.callQueueWait.record(event.startedAt - call.at)
        const slowest = this.slowestCalls
        if (slowest.length < slowestKept || millis > slowest[slowest.length - 1]!.millis) {
          const slow: SlowCall = {
            // A call made before this collector subscribed (the dashboard's) is named by its actor's id.
            actor: call?.actor ?? `actor #${event.actorId}`,
            method: call?.method ?? "?",
            callId: event.callId,
            workerId: event.workerId,
            millis
          }
          this.slowestCalls = [...slowest, slow].sort((a, b) => b.millis - a.millis).slice(0, slowestKept)
        }
        // A method's run is its worker's work, as a task's is (MPIRE counts every call a worker runs).
        const worker = this.workers.get(event.workerId)
        if (worker === undefined) return
        worker.working += millis
        worker.tasks++
        return
      }
    }
  }

  /** A cancelled task's or call's handler ran: its worker worked (no settlement will say so). */
  readonly onCancelledRun = (workerId: number, startedAt: number, endedAt: number): void => {
    const worker = this.workers.get(workerId)
    if (worker !== undefined) worker.working += endedAt - startedAt
  }

  /** Dispatches tell insights nothing: declared so that the pool makes no `Dispatched` event (its task list) for them. */
  readonly onDispatched = (): void => {}

  /**
   * A settled task, as plain numbers (the pool makes no event object for it). The worker of the
   * previous task is kept at hand: a map's tasks come in runs of one worker's.
   */
  readonly onSettled: OnSettled = (submissionId, index, taskId, workerId, attempt, outcome, startedAt, endedAt) => {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1
    const submission = this.submissions.settle(submissionId)
    if (startedAt === undefined || endedAt === undefined) return
    const millis = endedAt - startedAt
    let worker = this.lastWorker
    if (worker === undefined || worker.workerId !== workerId) {
      worker = this.workers.get(workerId)
      this.lastWorker = worker
    }
    if (worker !== undefined) {
      worker.working += millis
      worker.tasks++
    }
    this.runTime.record(millis)
    if (submission !== undefined) this.queueWait.record(startedAt - submission.at)
    if (millis > this.slowFloor) this.keepSlow(index, taskId, workerId, attempt, millis, submission)
  }

  private keepSlow(
    index: number,
    taskId: number,
    workerId: number,
    attempt: number,
    millis: number,
    submission: SubmissionRecord | undefined
  ): void {
    const slow: SlowTask = {
      taskName: submission?.taskName ?? "?",
      taskId,
      workerId,
      attempt,
      millis,
      // Rendered now, only for the few that make the list: the payloads are not kept.
      input: submission === undefined ? "" : renderInput(submission.payloads[index])
    }
    const list = [...this.slowest, slow].sort((a, b) => b.millis - a.millis).slice(0, slowestKept)
    this.slowest = list
    this.slowFloor = list.length === slowestKept ? list[list.length - 1]!.millis : -1
  }

  /** An exited worker's parts (final) go to the earlier workers' sums; its row goes. */
  private fold(record: WorkerRecord): void {
    const parts = partsOf(record, record.exitedAt!)
    const earlier = this.earlier
    this.earlier = {
      startup: earlier.startup + parts.startup,
      init: earlier.init + parts.init,
      waiting: earlier.waiting + parts.waiting,
      working: earlier.working + parts.working,
      exitTime: earlier.exitTime + parts.exitTime,
      wall: earlier.wall + parts.wall,
      tasks: earlier.tasks + parts.tasks
    }
    this.earlierWorkers++
    this.workers.delete(record.workerId)
    if (this.lastWorker === record) this.lastWorker = undefined
  }

  report(): Report {
    const now = this.now()
    const workers: Array<WorkerInsight> = []
    for (const record of this.workers.values()) workers.push(partsOf(record, now))
    workers.sort((a, b) => a.workerId - b.workerId)
    const sum = (pick: (w: Report["total"]) => number) => workers.reduce((total, w) => total + pick(w), pick(this.earlier))
    const total = {
      startup: sum((w) => w.startup),
      init: sum((w) => w.init),
      waiting: sum((w) => w.waiting),
      working: sum((w) => w.working),
      exitTime: sum((w) => w.exitTime),
      wall: sum((w) => w.wall),
      tasks: sum((w) => w.tasks)
    }
    const efficiency = total.wall > 0 ? total.working / total.wall : 0
    const runTime = this.runTime.percentiles()
    return {
      workers,
      earlierWorkers: this.earlierWorkers,
      total,
      efficiency,
      runTime,
      queueWait: this.queueWait.percentiles(),
      outcomes: { ...this.outcomes },
      slowest: this.slowest,
      calls: {
        runTime: this.callRunTime.percentiles(),
        queueWait: this.callQueueWait.percentiles(),
        outcomes: { ...this.callOutcomes },
        slowest: this.slowestCalls
      },
      warning: total.wall > 0 && efficiency < 0.8 ? warningOf(total, efficiency, runTime, workers.length + this.earlierWorkers) : undefined
    }
  }
}

/** A worker's time, split (see the module's header); a part not reached yet is 0. */
const partsOf = (w: WorkerRecord, now: number): WorkerInsight => {
  const end = w.exitedAt ?? now
  const initStart = w.initStartedAt ?? w.readyAt ?? end
  const ready = w.readyAt ?? end
  const stop = Math.min(end, w.stoppingAt ?? end)
  const startup = initStart - w.startingAt
  const init = ready - initStart
  const exitTime = end - stop
  // Working is measured in the worker; what remains of its ready time it waited.
  const working = Math.min(w.working, Math.max(0, stop - ready))
  return {
    workerId: w.workerId,
    state: w.exitedAt !== undefined ? "exited" : w.stoppingAt !== undefined ? "stopping" : w.readyAt !== undefined ? "ready" : "starting",
    exit: w.exit,
    startup,
    init,
    waiting: Math.max(0, stop - ready - working),
    working,
    exitTime,
    wall: end - w.startingAt,
    tasks: w.tasks
  }
}

/** Which cause is likeliest, from the largest share of the time that was not work. */
const warningOf = (
  total: Report["total"],
  efficiency: number,
  runTime: Percentiles,
  workers: number
): string => {
  const percent = (x: number) => `${Math.round((x / total.wall) * 100)}%`
  const head = `workers were working ${Math.round(efficiency * 100)}% of their time (under 80%)`
  const setup = total.startup + total.init + total.exitTime
  if (setup >= total.waiting) {
    return `${head}: start-up, init and exit took ${percent(setup)} — keep the pool alive across runs (build its Layer once, at the top of the program), or give it more work per start`
  }
  if (runTime.count > 0 && runTime.mean < 0.05) {
    return `${head}: waiting took ${percent(total.waiting)} and tasks average ${(runTime.mean * 1000).toFixed(1)} µs — per-task overhead dominates: send them in batches (Task.map, a larger chunkSize) or make each task do more`
  }
  if (total.tasks < workers * 4) {
    return `${head}: waiting took ${percent(total.waiting)} with ${total.tasks} tasks for ${workers} workers — too few inputs to keep every worker busy: fewer workers, or more, smaller tasks`
  }
  return `${head}: waiting took ${percent(total.waiting)} — workers waited for work: the caller submits too slowly (submit more at once: Task.map, Task.stream with more concurrency) or holds tasks back (maxQueued)`
}

/** A report as a table, with its warning; durations in milliseconds. */
export const render = (report: Report, title = "effect-parallel insights"): string => {
  const ms = (x: number) => x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0)
  const pct = (x: number, of: number) => of > 0 ? `${((x / of) * 100).toFixed(1)}%` : "-"
  const header = ["worker", "state", "start-up", "init", "waiting", "working", "exit", "wall ms", "tasks"]
  const row = (name: string, state: string, w: Report["total"]) => [
    name,
    state,
    `${ms(w.startup)} (${pct(w.startup, w.wall)})`,
    `${ms(w.init)} (${pct(w.init, w.wall)})`,
    `${ms(w.waiting)} (${pct(w.waiting, w.wall)})`,
    `${ms(w.working)} (${pct(w.working, w.wall)})`,
    `${ms(w.exitTime)} (${pct(w.exitTime, w.wall)})`,
    ms(w.wall),
    String(w.tasks)
  ]
  const rows = [
    header,
    ...(report.earlierWorkers > 0 ? [row(`${report.earlierWorkers} earlier`, "exited", earlierOf(report))] : []),
    ...report.workers.map((w) => row(String(w.workerId), w.exit === undefined ? w.state : `${w.state} (${w.exit})`, w)),
    row("total", "", report.total)
  ]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) => r.map((cell, i) => i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  const lines = [`${title} (times in ms, share of each worker's wall time)`, ...rows.map(line)]
  const time = (x: number) => x < 1 ? `${(x * 1000).toFixed(1)} µs` : `${ms(x)} ms`
  // "1 task", "2 tasks": the unit is given plural.
  const counted = (n: number, unit: string) => `${n} ${n === 1 ? unit.slice(0, -1) : unit}`
  const dist = (name: string, p: Percentiles, unit = "tasks") =>
    p.count === 0 ? `${name}: no ${unit}` : `${name}: p50 ${time(p.p50)}  p90 ${time(p.p90)}  p99 ${time(p.p99)}  max ${time(p.max)}  mean ${time(p.mean)}  (${counted(p.count, unit)})`
  lines.push(dist("run time  ", report.runTime), dist("queue wait", report.queueWait))
  const outcomes = Object.entries(report.outcomes).map(([name, n]) => `${name} ${n}`).join(", ")
  if (outcomes !== "") lines.push(`outcomes: ${outcomes}`)
  const calls = report.calls
  if (calls.runTime.count > 0) {
    lines.push(dist("actor calls run time  ", calls.runTime, "calls"), dist("actor calls queue wait", calls.queueWait, "calls"))
  }
  const callOutcomes = Object.entries(calls.outcomes).map(([name, n]) => `${name} ${n}`).join(", ")
  if (callOutcomes !== "") lines.push(`actor call outcomes: ${callOutcomes}`)
  lines.push(`efficiency: ${(report.efficiency * 100).toFixed(1)}% of worker time spent working`)
  if (report.slowest.length > 0) {
    lines.push(`slowest ${counted(report.slowest.length, "tasks")}:`)
    for (const slow of report.slowest) {
      lines.push(
        `  ${ms(slow.millis)} ms  ${slow.taskName} #${slow.taskId} on worker ${slow.workerId}${slow.attempt > 1 ? ` (attempt ${slow.attempt})` : ""}  input ${slow.input}`
      )
    }
  }
  if (calls.slowest.length > 0) {
    lines.push(`slowest ${counted(calls.slowest.length, "actor calls")}:`)
    for (const slow of calls.slowest) {
      lines.push(`  ${ms(slow.millis)} ms  ${slow.actor}.${slow.method} call #${slow.callId} on worker ${slow.workerId}`)
    }
  }
  if (report.warning !== undefined) lines.push(`WARNING ${report.warning}`)
  return lines.join("\n")
}

/** The parts of the workers a report no longer lists: its total less its rows. */
const earlierOf = (report: Report): Report["total"] => {
  const less = (pick: (w: Report["total"]) => number) => report.workers.reduce((rest, w) => rest - pick(w), pick(report.total))
  return {
    startup: less((w) => w.startup),
    init: less((w) => w.init),
    waiting: less((w) => w.waiting),
    working: less((w) => w.working),
    exitTime: less((w) => w.exitTime),
    wall: less((w) => w.wall),
    tasks: less((w) => w.tasks)
  }
}

/** The collectors of pools built with insights on, by pool (its client). */
const attached = new WeakMap<object, Insights>()

export const attach = (pool: object, insights: Insights): void => void attached.set(pool, insights)

export const attachedTo = (pool: object): Insights | undefined => attached.get(pool)
