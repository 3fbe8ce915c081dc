/**
 * The actor host against scripted workers: interleavings a real backend reaches only by a race
 * (a worker's message that crosses the pool's shutdown), played in a fixed order.
 */
import { assert, describe, it } from "@effect/vitest"
import * as EffectCore from "effect/Effect"
import { type Backend, realTimers, type Timers, type WorkerEvents } from "../../../src/runtime/backends/Backend.ts"
import { type FromWorker, Op, Outcome, type ToWorker } from "../../../src/runtime/protocol/protocol.ts"
import { ActorHost } from "../../../src/runtime/scheduler/ActorHost.ts"
import { dispatcherOn } from "../../support/backends.ts"
import { Counter } from "../../fixtures/actors.ts"

interface Scripted {
  readonly events: WorkerEvents
  readonly sent: Array<ToWorker>
}

/** Workers that say `Ready` and otherwise only record what they are sent: the test answers for them. */
const scripted = (): { readonly backend: Backend; readonly workers: Map<number, Scripted> } => {
  const workers = new Map<number, Scripted>()
  const backend: Backend = {
    name: "scripted",
    capabilities: { sharesMemory: true, canTerminate: true, isolatesCrashes: true, heapLimits: false, pinsCpus: false, lowersPriority: false },
    timers: realTimers,
    defaultSize: () => 1,
    make: () =>
      EffectCore.succeed({
        spawn: (id, events) => {
          const worker: Scripted = { events, sent: [] }
          workers.set(id, worker)
          queueMicrotask(() => events.onMessage([Op.Ready]))
          return {
            send: (message) => void worker.sent.push(message),
            terminate: () => queueMicrotask(() => events.onExit({ kind: "Terminated", message: "was terminated" }))
          }
        }
      })
  }
  return { backend, workers }
}

/** Timers the test fires by hand; `armed` is what is still set. */
const manualTimers = () => {
  const armed = new Map<number, () => void>()
  let next = 0
  const timers: Timers = {
    set: (_millis, f) => {
      armed.set(++next, f)
      return next
    },
    clear: (handle) => void armed.delete(handle as number),
    now: () => 0
  }
  const fireAll = () => {
    const due = [...armed.values()]
    armed.clear()
    for (const f of due) f()
  }
  return { timers, armed, fireAll }
}

/** Each worker told to shut down exits, as a real one does once its Layer closed. */
const exitShutDown = (workers: Map<number, Scripted>): void => {
  for (const worker of workers.values()) {
    if (worker.sent.some((m) => m[0] === Op.Shutdown)) worker.events.onExit({ kind: "Exited", message: "exited with code 0" })
  }
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

describe("ActorHost", () => {
  it("a rebuild whose constructor failure crosses the pool's shutdown leaves no restart timer", async () => {
    const { backend, workers } = scripted()
    const dispatcher = dispatcherOn(backend, "file:///scripted.ts", { size: 2 })
    const clock = manualTimers()
    const host = new ActorHost(dispatcher, clock.timers)
    dispatcher.listen(host)
    dispatcher.actors = host
    await dispatcher.start()
    const spawnedOn = (actorId: number): Scripted => {
      const worker = [...workers.values()].find((w) => w.sent.some((m) => m[0] === Op.Spawn && m[1] === actorId))
      assert.isDefined(worker)
      worker!.sent.length = 0
      return worker!
    }
    let spawned: Outcome | undefined
    const id = host.spawn(Counter, { start: 0 }, { worker: 0, maxRestarts: 3, backoffMillis: 10, maxBackoffMillis: 10 }, (outcome) => {
      spawned = outcome
    })
    const first = spawnedOn(id)
    first.events.onMessage([Op.Spawned, id, Outcome.Success, undefined] as FromWorker)
    assert.strictEqual(spawned, Outcome.Success)
    // Its worker dies: the actor backs off, then is rebuilt on the other worker.
    first.events.onExit({ kind: "Crashed", message: "crashed" })
    assert.strictEqual(clock.armed.size, 1, "the restart backoff")
    clock.fireAll()
    const second = spawnedOn(id)
    const answers: Array<[Outcome, unknown]> = []
    host.call(id, Counter.methods.add, { n: 1 }, (outcome, value) => void answers.push([outcome, value]))
    // The pool closes; the rebuild's constructor failed just before the shutdown reached its worker.
    const closed = dispatcher.close()
    second.events.onMessage([Op.Spawned, id, Outcome.Defect, { name: "Error", message: "boom", stack: "" }] as FromWorker)
    exitShutDown(workers)
    await closed
    await tick()
    assert.strictEqual(clock.armed.size, 0, "no timer outlives the pool")
    assert.deepStrictEqual(answers, [[Outcome.Unavailable, "Stopped"]], "the call waiting for the rebuild is answered")
    assert.isFalse([...workers.values()].some((w) => w.sent.some((m) => m[0] === Op.Spawn)), "nothing rebuilt after the close")
  })

  it("an actor stopped while it waits for a worker fails its spawn, never leaves it waiting", async () => {
    const { backend, workers } = scripted()
    const dispatcher = dispatcherOn(backend, "file:///scripted.ts", { size: 1 })
    const host = new ActorHost(dispatcher, manualTimers().timers)
    dispatcher.listen(host)
    dispatcher.actors = host
    // No worker is ready yet: the actor waits to be placed. A stop (through a handle made from
    // its id) then forgot it without a word to its spawn.
    const answers: Array<[Outcome, unknown]> = []
    const id = host.spawn(Counter, { start: 0 }, { worker: undefined, maxRestarts: 0, backoffMillis: 0, maxBackoffMillis: 0 }, (outcome, value) =>
      void answers.push([outcome, value]))
    await host.stop(id)
    assert.strictEqual(answers.length, 1)
    assert.strictEqual(answers[0]![0], Outcome.Defect)
    assert.include((answers[0]![1] as { message: string }).message, "stopped before it was built")
    await dispatcher.start()
    const closed = dispatcher.close()
    exitShutDown(workers)
    await closed
  })
})
