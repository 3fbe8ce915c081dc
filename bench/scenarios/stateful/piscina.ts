/**
 * `piscina` — Piscina with module-level state (one counter per thread) and a
 * custom `loadBalancer` that pins each counter to one thread.
 *
 * Piscina routes a task to any idle thread, and which thread does not show in
 * the API: with its default balancer, document `i` lands wherever a thread is
 * free, each thread's counter sees a different share of the documents than
 * the round-robin of the post, and the union of popular prefixes differs
 * from the serial run's (it depends on which documents share a counter). So
 * this variant uses Piscina 5's `loadBalancer` option: a task carries its
 * counter under `queueOptionsSymbol` (a symbol key, so it is not
 * cloned to the worker), the balancer gives each counter the first thread
 * that owns none yet and from then on always that thread. `setup` sends one
 * `reset` per counter and waits, so every counter is pinned to a started
 * thread before any document is timed.
 *
 * Because the balancer ignores how busy a thread is, calls queue in the
 * owning thread's port (as an actor's mailbox does); `concurrentTasksPerWorker`
 * is raised so Piscina's own accounting agrees, and threads are never
 * retired (`idleTimeout: Infinity`, min = max = workers) since a retired
 * thread would take its counter with it.
 *
 * What differs from an actor: the pinning is a property of one pool-wide
 * function, not of a handle; a lost thread loses its counter silently (its
 * later calls would wait for a thread that never comes back), and there is
 * no way to give one thread two counters.
 */
import { Piscina, queueOptionsSymbol } from "piscina"
import type { StatefulHandle, StatefulVariant } from "./variant.ts"

/** The task sent to a thread; the counter index rides along under `queueOptionsSymbol`. */
export type CounterTask =
  | { readonly op: "reset" | "popular"; readonly arg: null }
  | { readonly op: "add" | "count"; readonly arg: string }

type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>["loadBalancer"]>

const filename = new URL("./piscina.worker.ts", import.meta.url).href

/** Counter `c` -> the thread that first received one of `c`'s tasks, forever. */
const pinningBalancer = (): LoadBalancer => {
  const owner = new Map<number, number>()
  return (task, workers) => {
    const options = task[queueOptionsSymbol] as { readonly counter: number } | null
    if (options === null) return null
    const id = owner.get(options.counter)
    if (id !== undefined) return workers.find((w) => w.id === id) ?? null
    const taken = new Set(owner.values())
    const free = workers.find((w) => !taken.has(w.id) && !w.terminating && !w.destroyed)
    if (free === undefined) return null // stays queued until another thread starts
    owner.set(options.counter, free.id)
    return free
  }
}

const piscina: StatefulVariant = {
  name: "piscina",
  config: "module-level counter per thread, min = max = workers, loadBalancer pinning counter -> thread, " +
    "concurrentTasksPerWorker 1024, idleTimeout Infinity",
  setup: async (workers, counter) => {
    const pool = new Piscina({
      filename,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1024,
      workerData: { counter },
      loadBalancer: pinningBalancer()
    })
    const call = <A>(counter: number, task: CounterTask): Promise<A> => {
      if (!Number.isInteger(counter) || counter < 0 || counter >= workers) {
        return Promise.reject(new RangeError(`piscina: no counter ${counter}`))
      }
      return pool.run({ ...task, [queueOptionsSymbol]: { counter } })
    }
    const counters = Array.from({ length: workers }, (_, i) => i)
    const handle: StatefulHandle = {
      counters: workers,
      reset: async () => {
        await Promise.all(counters.map((c) => call(c, { op: "reset", arg: null })))
      },
      add: (counter, document) => call(counter, { op: "add", arg: document }),
      popular: (counter) => call(counter, { op: "popular", arg: null }),
      count: (counter, prefix) => call(counter, { op: "count", arg: prefix }),
      close: () => pool.destroy()
    }
    await handle.reset()
    return handle
  }
}

export const variants: ReadonlyArray<StatefulVariant> = [piscina]
