/**
 * A pool's event hub: the one place a pool's machinery (scheduler, actor host) publishes its
 * `PoolEvent`s, and observers subscribe.
 *
 * Unobserved, it costs a field read per publishing site: the machinery tests `active` before it
 * makes an event. Listeners run synchronously, in the order they subscribed, as the event happens
 * (before its effects on callers): a trace reads cause first. A listener that throws is removed,
 * so an observer's bug cannot break the pool. `Settled` and `Dispatched` (one per task) are
 * made as event objects only for listeners without `onSettled` / `onDispatched`.
 */
import type { DispatchedTask, OnSettled, PoolEvent, PoolEvents, PoolListener as Listener } from "../../core/PoolEvent.ts"

export class EventHub implements PoolEvents {
  /** Someone listens: make events. */
  active = false
  /** Some listener wants handler timings from the workers. */
  timings = false
  private readonly clock: () => number
  /** The clock as read at the start of the current burst of synchronous work, until it ends. */
  private held: number | undefined = undefined
  private readonly release = () => {
    this.held = undefined
  }
  private listeners: ReadonlyArray<Listener> = []
  /** Those that take settlements as numbers, and those that take them as events. */
  private settledCalls: ReadonlyArray<Listener> = []
  private settledEvents: ReadonlyArray<Listener> = []
  private dispatchedCalls: ReadonlyArray<Listener> = []
  private dispatchedEvents: ReadonlyArray<Listener> = []

  constructor(now: () => number) {
    this.clock = now
  }

  /**
   * Milliseconds on the pool's clock, read once per burst of synchronous work: the events one
   * turn makes (a results message settling 512 tasks, a burst of concurrent runs submitted)
   * share its time, and a microtask queued at the first reading lets the next burst read anew.
   * Reading the clock (`performance.now()`, ~0.1 µs here) for every event cost more than making
   * the events.
   */
  now(): number {
    if (this.held !== undefined) return this.held
    const now = this.clock()
    this.held = now
    queueMicrotask(this.release)
    return now
  }

  /** Any event but `Settled` and `Dispatched`, which go through `settled` and `dispatched`. */
  emit(event: PoolEvent): void {
    this.emitTo(this.listeners, event)
  }

  /** A task's outcome went to its caller (the `Settled` event). */
  readonly settled: OnSettled = (submission, index, taskId, workerId, attempt, outcome, startedAt, endedAt) => {
    for (const listener of this.settledCalls) {
      try {
        listener.onSettled!(submission, index, taskId, workerId, attempt, outcome, startedAt, endedAt)
      } catch {
        this.remove(listener)
      }
    }
    if (this.settledEvents.length > 0) {
      this.emitTo(this.settledEvents, {
        _tag: "Settled",
        at: this.now(),
        submission,
        index,
        taskId,
        workerId,
        attempt,
        outcome,
        startedAt,
        endedAt
      })
    }
  }

  /** A handler ran for a cancelled task or call (`PoolListener.onCancelledRun`): rare, so no list of its own. */
  cancelledRun(workerId: number, startedAt: number, endedAt: number, name: string): void {
    for (const listener of this.listeners) {
      if (listener.onCancelledRun === undefined) continue
      try {
        listener.onCancelledRun(workerId, startedAt, endedAt, name)
      } catch {
        this.remove(listener)
      }
    }
  }

  /** A message of `count` tasks went to a worker (the `Dispatched` event; `tasks` is only made for listeners of events). */
  dispatched(workerId: number, count: number, tasks: () => ReadonlyArray<DispatchedTask>): void {
    for (const listener of this.dispatchedCalls) {
      try {
        listener.onDispatched!(workerId, count)
      } catch {
        this.remove(listener)
      }
    }
    if (this.dispatchedEvents.length > 0) {
      this.emitTo(this.dispatchedEvents, { _tag: "Dispatched", at: this.now(), workerId, tasks: tasks() })
    }
  }

  private emitTo(listeners: ReadonlyArray<Listener>, event: PoolEvent): void {
    for (const listener of listeners) {
      try {
        listener.onEvent(event)
      } catch {
        this.remove(listener)
      }
    }
  }

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: Listener): () => void {
    this.listeners = [...this.listeners, listener]
    this.update()
    return () => this.remove(listener)
  }

  private remove(listener: Listener): void {
    this.listeners = this.listeners.filter((l) => l !== listener)
    this.update()
  }

  private update(): void {
    const listeners = this.listeners
    this.settledCalls = listeners.filter((listener) => listener.onSettled !== undefined)
    this.settledEvents = listeners.filter((listener) => listener.onSettled === undefined)
    this.dispatchedCalls = listeners.filter((listener) => listener.onDispatched !== undefined)
    this.dispatchedEvents = listeners.filter((listener) => listener.onDispatched === undefined)
    this.active = listeners.length > 0
    this.timings = this.listeners.some((listener) => listener.timings === true)
  }
}
