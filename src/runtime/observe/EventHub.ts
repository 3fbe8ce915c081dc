/**
 * A pool's event hub: the one place a pool's machinery (scheduler, actor host) publishes its
 * `PoolEvent`s, and observers subscribe.
 *
 * Unobserved, it costs a field read per publishing site: the machinery tests `active` before it
 * makes an event. Listeners run synchronously, in the order they subscribed, as the event happens
 * (before its effects on callers): a trace reads cause first. A listener that throws is removed,
 * so an observer's bug cannot break the pool.
 */
import type { PoolEvent, PoolEvents, PoolListener as Listener } from "../../core/PoolEvent.ts"

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

  emit(event: PoolEvent): void {
    for (const listener of this.listeners) {
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
    this.active = this.listeners.length > 0
    this.timings = this.listeners.some((listener) => listener.timings === true)
  }
}
