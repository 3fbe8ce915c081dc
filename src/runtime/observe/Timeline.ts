/**
 * A pool's run as a timeline: a subscriber that keeps the pool's events in a ring buffer and turns
 * them into a Chrome trace (the JSON Trace Event Format that `chrome://tracing`, Perfetto and
 * speedscope open).
 *
 * Contains `Timeline` (`onEvent` is the listener; `trace()` builds the file's content) and the
 * trace's types.
 *
 * The trace: one process, a track (thread) for the caller and one per worker, named and sorted by
 * metadata events. Each task run is a complete slice (`X`) on its worker's track, from its
 * handler's start to its end as the worker measured them (task name; id, submission, index,
 * attempt, outcome and queue wait in its args); each submission is a slice on the caller's track,
 * from submit to its last settle (submissions running at once go on further caller tracks: slices
 * on one track must nest, and Perfetto drops ones that overlap); a flow arrow (`s` → `f`) goes from the submission to each of its
 * task runs; counters (`C`) show tasks queued and in flight; worker start-up, init and exit are
 * slices on the worker's track. Each actor method run is a slice on its worker's track too
 * (`Actor.method`; ids, outcome and queue wait from the call in its args); actors on one worker run
 * concurrently, so a worker's slices are laid out on its track and, for those that overlap an
 * earlier one, on further tracks of that worker (`worker 3 #2`). Other actor events are instants.
 * A task or call cancelled while its handler ran is a slice too (`Sleep (cancelled)`), up to where
 * its worker gave it back: it settles with no event, and its worker was not idle.
 * Timestamps are microseconds from the earliest time the kept events hold (a kept run's start
 * may precede every kept event), on the pool's clock (one clock across threads). The ring keeps the last `maxEvents` events: the trace
 * says how many were dropped (`otherData.droppedEvents` and an instant event at its start).
 */
import { closeSync, openSync, writeSync } from "node:fs"
import type { PoolEvent } from "../../core/PoolEvent.ts"

export interface TraceEvent {
  readonly name: string
  readonly ph: "X" | "i" | "s" | "f" | "C" | "M"
  readonly ts: number
  readonly pid: number
  readonly tid: number
  readonly dur?: number
  readonly id?: number
  readonly bp?: "e"
  readonly s?: "t" | "p" | "g"
  readonly cat?: string
  readonly args?: Record<string, unknown>
}

export interface TraceFile {
  readonly traceEvents: ReadonlyArray<TraceEvent>
  readonly displayTimeUnit: "ms"
  readonly otherData: {
    readonly producer: string
    readonly droppedEvents: number
    readonly maxEvents: number
    /** The pool-clock time (ms since the epoch) of `ts` 0. */
    readonly origin: number
  }
}

/**
 * Writes `trace` to `path` as `JSON.stringify(trace)` would, a few thousand events at a time: a full
 * default ring (a million events) comes near V8's longest string (~536 M characters) as one text,
 * and longer task names would pass it.
 */
export const writeTrace = (path: string, trace: TraceFile): void => {
  const file = openSync(path, "w")
  try {
    writeSync(file, "{\"traceEvents\":[")
    const events = trace.traceEvents
    const perWrite = 4096
    for (let from = 0; from < events.length; from += perWrite) {
      const part = events.slice(from, from + perWrite).map((event) => JSON.stringify(event)).join(",")
      writeSync(file, from === 0 ? part : "," + part)
    }
    const { traceEvents: _, ...rest } = trace
    writeSync(file, "]," + JSON.stringify(rest).slice(1))
  } finally {
    closeSync(file)
  }
}

const pid = 1
const callerTid = 0
const workerTid = (workerId: number) => workerId + 1
/** The caller's further tracks for submissions that overlap (`lane` ≥ 1), far above any worker's. */
const laneTid = (lane: number) => lane === 0 ? callerTid : 1_000_000_000 + lane
/** Workers' further tracks for runs that overlap, numbered in order of first use. */
const workerLaneTid = (n: number) => 1_500_000_000 + n
/** Track order: a worker's further tracks right after its own. */
const workerSortIndex = (workerId: number, lane: number) => workerTid(workerId) * 1024 + Math.min(lane, 1023)

/** A handler run of a cancelled task or call (`PoolListener.onCancelledRun`): no event says it. */
interface CancelledRun {
  readonly _tag: "CancelledRun"
  /** When it ended. */
  readonly at: number
  readonly workerId: number
  readonly startedAt: number
  readonly name: string
}

type Entry = PoolEvent | CancelledRun

/** A slice (or flow end) whose track is chosen once all of its worker's slices are known. */
type Placed = { -readonly [K in keyof TraceEvent]: TraceEvent[K] }

export class Timeline {
  readonly maxEvents: number
  private readonly ring: Array<Entry>
  private next = 0
  private count = 0
  /** Events overwritten by newer ones. */
  dropped = 0

  constructor(maxEvents: number) {
    this.maxEvents = maxEvents
    this.ring = new Array(maxEvents)
  }

  readonly onEvent = (event: PoolEvent): void => {
    // A submission's payloads are not the timeline's to keep.
    this.keep(event._tag === "Submitted" ? { ...event, payloads: [] } : event)
  }

  readonly onCancelledRun = (workerId: number, startedAt: number, endedAt: number, name: string): void =>
    this.keep({ _tag: "CancelledRun", at: endedAt, workerId, startedAt, name })

  private keep(kept: Entry): void {
    this.ring[this.next] = kept
    this.next = this.next + 1 === this.maxEvents ? 0 : this.next + 1
    if (this.count < this.maxEvents) this.count++
    else this.dropped++
  }

  /** The kept events, oldest first. */
  events(): Array<Entry> {
    if (this.count < this.maxEvents) return this.ring.slice(0, this.count)
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
  }

  trace(): TraceFile {
    return toTrace(this.events(), this.dropped, this.maxEvents)
  }
}

interface SubmissionState {
  readonly name: string
  readonly at: number
  readonly count: number
  queued: number
  /** Its tasks sent to workers and not settled: a cancel takes them off the counter (they settle with no event). */
  inFlight: number
  settled: number
  lastAt: number
  /** Its flow arrows' starts, placed on its track once the tracks are laid out. */
  readonly flows: Array<{ tid: number }>
}

const toTrace = (events: ReadonlyArray<Entry>, dropped: number, maxEvents: number): TraceFile => {
  let origin = events.length === 0 ? 0 : Infinity
  for (const event of events) {
    if (event.at < origin) origin = event.at
    // A run starts before it is answered: with the ring full, before every kept event's time.
    if ((event._tag === "Settled" || event._tag === "ActorAnswer" || event._tag === "CancelledRun") && event.startedAt !== undefined && event.startedAt < origin) {
      origin = event.startedAt
    }
  }
  const us = (at: number) => Math.max(0, Math.round((at - origin) * 1000 * 1000) / 1000)
  const out: Array<TraceEvent> = []
  const workers = new Set<number>()
  const submissions = new Map<number, SubmissionState>()
  const starting = new Map<number, number>()
  const stopping = new Map<number, number>()
  /** Each worker's slices, laid out on its tracks at the end. */
  const slices = new Map<number, Array<Placed>>()
  const onWorker = (workerId: number, slice: Placed): Placed => {
    let own = slices.get(workerId)
    if (own === undefined) {
      own = []
      slices.set(workerId, own)
    }
    own.push(slice)
    out.push(slice)
    return slice
  }
  /** The flow arrow that ends on a task's slice: it moves with it. */
  const flowEnds = new Map<Placed, Placed>()
  /** Actor calls not answered yet (the ring kept their call). */
  const calls = new Map<number, Extract<PoolEvent, { readonly _tag: "ActorCall" }>>()
  let queued = 0
  let inFlight = 0
  const counters = (at: number) =>
    out.push({ name: "tasks", ph: "C", ts: us(at), pid, tid: callerTid, args: { queued, inFlight } })

  if (dropped > 0) {
    out.push({
      name: `${dropped} earlier events dropped (the timeline keeps the last ${maxEvents})`,
      ph: "i",
      s: "g",
      ts: 0,
      pid,
      tid: callerTid,
      args: { droppedEvents: dropped, maxEvents }
    })
  }
  for (const event of events) {
    switch (event._tag) {
      case "Submitted": {
        submissions.set(event.submission, {
          name: event.taskName,
          at: event.at,
          count: event.count,
          queued: event.count,
          inFlight: 0,
          settled: 0,
          lastAt: event.at,
          flows: []
        })
        queued += event.count
        counters(event.at)
        break
      }
      case "Dispatched": {
        workers.add(event.workerId)
        // Counters count the tasks of submissions the ring kept: the tasks of one whose `Submitted`
        // was dropped were never counted queued, and taking them off would go below zero.
        for (const task of event.tasks) {
          const submission = submissions.get(task.submission)
          if (submission !== undefined) {
            submission.queued--
            submission.inFlight++
            queued--
            inFlight++
          }
        }
        counters(event.at)
        break
      }
      case "Requeued": {
        const submission = submissions.get(event.submission)
        // An unsendable message had no `Dispatched`: its tasks never left the queue's count.
        if (submission !== undefined && event.why !== "Unsendable") {
          submission.queued++
          submission.inFlight--
          queued++
          inFlight--
        }
        out.push({ name: `requeued (${event.why})`, ph: "i", s: "t", ts: us(event.at), pid, tid: callerTid, args: { ...event } })
        counters(event.at)
        break
      }
      case "Cancelled": {
        const submission = submissions.get(event.submission)
        if (submission !== undefined) {
          queued -= submission.queued
          submission.queued = 0
          inFlight -= submission.inFlight
          submission.inFlight = 0
        }
        out.push({ name: "cancelled", ph: "i", s: "t", ts: us(event.at), pid, tid: callerTid, args: { submission: event.submission } })
        counters(event.at)
        break
      }
      case "Settled": {
        const submission = submissions.get(event.submission)
        if (submission !== undefined) {
          submission.settled++
          submission.lastAt = event.at
        }
        // Counted only for a submission the ring kept (see Dispatched).
        if (submission !== undefined && event.workerId >= 0) {
          inFlight--
          submission.inFlight--
        } else if (submission !== undefined) {
          queued--
          submission.queued--
        }
        const name = submission?.name ?? "task"
        if (event.startedAt !== undefined && event.endedAt !== undefined && event.workerId >= 0) {
          workers.add(event.workerId)
          const tid = workerTid(event.workerId)
          const ts = us(event.startedAt)
          const slice = onWorker(event.workerId, {
            name,
            ph: "X",
            ts,
            dur: Math.max(0, us(event.endedAt) - ts),
            pid,
            tid,
            cat: "task",
            args: {
              taskId: event.taskId,
              submission: event.submission,
              index: event.index,
              attempt: event.attempt,
              outcome: event.outcome,
              queueWaitMs: submission === undefined ? undefined : event.startedAt - submission.at
            }
          })
          if (submission !== undefined) {
            // The arrow from the submission to this run: it ends on the slice that encloses its time.
            const start = { name: "submit → run", ph: "s" as const, cat: "flow", id: event.taskId, ts: us(submission.at), pid, tid: callerTid }
            submission.flows.push(start)
            out.push(start)
            const end: Placed = { name: "submit → run", ph: "f", bp: "e", cat: "flow", id: event.taskId, ts, pid, tid }
            flowEnds.set(slice, end)
            out.push(end)
          }
        } else {
          out.push({ name: `${name} ${event.outcome}`, ph: "i", s: "t", ts: us(event.at), pid, tid: callerTid, args: { ...event } })
        }
        counters(event.at)
        break
      }
      case "WorkerStarting":
        workers.add(event.workerId)
        starting.set(event.workerId, event.at)
        break
      case "WorkerReady": {
        const started = starting.get(event.workerId)
        if (started === undefined) break
        const tid = workerTid(event.workerId)
        const init = Math.min(event.at, Math.max(started, event.initStartedAt ?? started))
        onWorker(event.workerId, { name: "start-up", ph: "X", ts: us(started), dur: us(init) - us(started), pid, tid, cat: "worker" })
        onWorker(event.workerId, { name: "init", ph: "X", ts: us(init), dur: us(event.at) - us(init), pid, tid, cat: "worker" })
        break
      }
      case "WorkerInitFailed":
        out.push({ name: "init failed", ph: "i", s: "t", ts: us(event.at), pid, tid: workerTid(event.workerId), args: { message: event.message } })
        break
      case "WorkerStopping":
        stopping.set(event.workerId, event.at)
        break
      case "WorkerExited": {
        workers.add(event.workerId)
        const tid = workerTid(event.workerId)
        const stop = stopping.get(event.workerId)
        if (stop !== undefined) onWorker(event.workerId, { name: "exit", ph: "X", ts: us(stop), dur: us(event.at) - us(stop), pid, tid, cat: "worker" })
        out.push({ name: `exited (${event.exit})`, ph: "i", s: "t", ts: us(event.at), pid, tid, args: { message: event.message } })
        break
      }
      case "ActorAnswer": {
        const call = calls.get(event.callId)
        calls.delete(event.callId)
        if (event.startedAt === undefined || event.endedAt === undefined || event.workerId < 0) {
          // Never ran (or untimed): an instant, on the worker that answered if one did.
          const tid = event.workerId >= 0 ? workerTid(event.workerId) : callerTid
          if (event.workerId >= 0) workers.add(event.workerId)
          out.push({ name: event._tag, ph: "i", s: "t", ts: us(event.at), pid, tid, args: { ...event } })
          break
        }
        workers.add(event.workerId)
        const ts = us(event.startedAt)
        onWorker(event.workerId, {
          name: call === undefined ? "actor call" : `${call.actor}.${call.method}`,
          ph: "X",
          ts,
          dur: Math.max(0, us(event.endedAt) - ts),
          pid,
          tid: workerTid(event.workerId),
          cat: "actor",
          args: {
            actorId: event.actorId,
            callId: event.callId,
            method: call?.method,
            outcome: event.outcome,
            queueWaitMs: call === undefined ? undefined : event.startedAt - call.at,
            from: call?.from
          }
        })
        break
      }
      case "CancelledRun": {
        workers.add(event.workerId)
        const ts = us(event.startedAt)
        onWorker(event.workerId, {
          name: `${event.name} (cancelled)`,
          ph: "X",
          ts,
          dur: Math.max(0, us(event.at) - ts),
          pid,
          tid: workerTid(event.workerId),
          cat: "cancelled"
        })
        break
      }
      case "ActorCancel":
        calls.delete(event.callId)
        out.push({ name: event._tag, ph: "i", s: "t", ts: us(event.at), pid, tid: callerTid, args: { ...event } })
        break
      case "ActorCall":
        calls.set(event.callId, event)
        out.push({ name: event._tag, ph: "i", s: "t", ts: us(event.at), pid, tid: callerTid, args: { ...event } })
        break
      default:
        // Other actor events: instants on the caller's track.
        out.push({
          name: event._tag,
          ph: "i",
          s: "t",
          ts: us(event.at),
          pid,
          tid: callerTid,
          args: { ...event }
        })
    }
  }
  // Each worker's slices on its tracks: in start order (an enclosing one first), each on the first
  // track where it nests (its slices open at its start all end at or after its end), so that
  // slices on one track nest, as the format needs.
  const workerLanes: Array<{ readonly workerId: number; readonly lane: number; readonly tid: number }> = []
  for (const [workerId, own] of slices) {
    own.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!)
    /** Each track's open slices' ends, innermost last. */
    const open: Array<Array<number>> = []
    const tids = [workerTid(workerId)]
    for (const slice of own) {
      const end = slice.ts + slice.dur!
      let lane = 0
      for (; lane < open.length; lane++) {
        const ends = open[lane]!
        while (ends.length > 0 && ends[ends.length - 1]! <= slice.ts) ends.pop()
        if (ends.length === 0 || end <= ends[ends.length - 1]!) break
      }
      if (lane === open.length) {
        open.push([])
        if (lane > 0) {
          tids.push(workerLaneTid(workerLanes.length))
          workerLanes.push({ workerId, lane, tid: tids[lane]! })
        }
      }
      open[lane]!.push(end)
      if (lane > 0) {
        slice.tid = tids[lane]!
        const flowEnd = flowEnds.get(slice)
        if (flowEnd !== undefined) flowEnd.tid = slice.tid
      }
    }
  }
  // Each submission as a slice on a caller track, from submit to its last settle; flows start in
  // it. Tracks are laid out in submit order, each taking the track that freed first, or a new one.
  const lanes: Array<{ readonly lane: number; end: number }> = []
  for (const [id, submission] of [...submissions].sort(([, a], [, b]) => a.at - b.at)) {
    const ts = us(submission.at)
    const dur = Math.max(0.001, us(submission.lastAt) - ts)
    let free = lanes[0]
    if (free === undefined || free.end > ts) {
      free = { lane: lanes.length, end: 0 }
      lanes.push(free)
    } else {
      popMin(lanes)
      lanes.push(free)
    }
    free.end = ts + dur
    siftUp(lanes, lanes.length - 1)
    const tid = laneTid(free.lane)
    for (const flow of submission.flows) flow.tid = tid
    out.push({
      name: `${submission.name} ×${submission.count}`,
      ph: "X",
      ts,
      dur,
      pid,
      tid,
      cat: "submission",
      args: { submission: id, count: submission.count, settled: submission.settled }
    })
  }
  const metadata: Array<TraceEvent> = [
    { name: "process_name", ph: "M", ts: 0, pid, tid: callerTid, args: { name: "effect-parallel pool" } },
    { name: "thread_name", ph: "M", ts: 0, pid, tid: callerTid, args: { name: "caller" } },
    { name: "thread_sort_index", ph: "M", ts: 0, pid, tid: callerTid, args: { sort_index: 0 } }
  ]
  for (const { lane } of lanes) {
    if (lane === 0) continue
    const tid = laneTid(lane)
    metadata.push({ name: "thread_name", ph: "M", ts: 0, pid, tid, args: { name: `caller #${lane + 1}` } })
    metadata.push({ name: "thread_sort_index", ph: "M", ts: 0, pid, tid, args: { sort_index: 0 } })
  }
  for (const workerId of [...workers].sort((a, b) => a - b)) {
    const tid = workerTid(workerId)
    metadata.push({ name: "thread_name", ph: "M", ts: 0, pid, tid, args: { name: `worker ${workerId}` } })
    metadata.push({ name: "thread_sort_index", ph: "M", ts: 0, pid, tid, args: { sort_index: workerSortIndex(workerId, 0) } })
  }
  for (const { lane, tid, workerId } of workerLanes) {
    metadata.push({ name: "thread_name", ph: "M", ts: 0, pid, tid, args: { name: `worker ${workerId} #${lane + 1}` } })
    metadata.push({ name: "thread_sort_index", ph: "M", ts: 0, pid, tid, args: { sort_index: workerSortIndex(workerId, lane) } })
  }
  return {
    traceEvents: [...metadata, ...out],
    displayTimeUnit: "ms",
    otherData: { producer: "effect-parallel", droppedEvents: dropped, maxEvents, origin }
  }
}

/** A binary min-heap of tracks by the end of their last slice: the track that frees first at the top. */
const siftUp = (heap: Array<{ end: number }>, at: number): void => {
  while (at > 0) {
    const parent = (at - 1) >> 1
    if (heap[parent]!.end <= heap[at]!.end) return
    ;[heap[parent], heap[at]] = [heap[at]!, heap[parent]!]
    at = parent
  }
}

const popMin = (heap: Array<{ end: number }>): void => {
  const last = heap.pop()!
  if (heap.length === 0) return
  heap[0] = last
  for (let at = 0;;) {
    const left = 2 * at + 1
    const smallest = left + 1 < heap.length && heap[left + 1]!.end < heap[left]!.end ? left + 1 : left
    if (smallest >= heap.length || heap[at]!.end <= heap[smallest]!.end) return
    ;[heap[at], heap[smallest]] = [heap[smallest]!, heap[at]!]
    at = smallest
  }
}
