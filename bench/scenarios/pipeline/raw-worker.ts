/**
 * The hand-written peer of the channel benchmark: a bare `worker_threads` worker that produces or
 * consumes over a `MessageChannel` port, one `postMessage` per element or per batch of 256, and
 * tells its parent when it is done. Round trips: `pong` echoes every message back.
 */
import { parentPort } from "node:worker_threads"
import type { MessagePort } from "node:worker_threads"

interface Job {
  readonly role: "produce" | "consume" | "pong" | "ping"
  readonly port: MessagePort
  readonly payload: "record" | "float64"
  readonly count: number
  readonly batched: boolean
}

const batch = 256

parentPort!.once("message", (job: Job) => {
  const { port } = job
  if (job.role === "pong") {
    port.on("message", (m) => (m === null ? (port.close(), parentPort!.postMessage({ done: true })) : port.postMessage(m)))
    return
  }
  if (job.role === "ping") {
    const micros: Array<number> = []
    let t = performance.now()
    let i = 0
    port.on("message", () => {
      micros.push((performance.now() - t) * 1000)
      if (++i === job.count) {
        port.postMessage(null)
        port.close()
        parentPort!.postMessage({ micros: micros.sort((a, b) => a - b) })
        return
      }
      t = performance.now()
      port.postMessage(i)
    })
    port.postMessage(0)
    return
  }
  if (job.role === "produce") {
    const make = job.payload === "record" ? (j: number) => ({ id: j, name: `item-${j}`, value: j * 0.5 }) : (j: number) => j
    if (!job.batched) {
      for (let j = 0; j < job.count; j++) port.postMessage(make(j))
    } else if (job.payload === "float64") {
      for (let i = 0; i < job.count; i += batch) {
        const values = new Float64Array(Math.min(batch, job.count - i))
        for (let j = 0; j < values.length; j++) values[j] = i + j
        port.postMessage(values, [values.buffer])
      }
    } else {
      for (let i = 0; i < job.count; i += batch) {
        const values = []
        for (let j = i; j < Math.min(job.count, i + batch); j++) values.push(make(j))
        port.postMessage(values)
      }
    }
    port.postMessage(null)
    port.close()
    parentPort!.postMessage({ sent: job.count })
    return
  }
  let count = 0
  let checksum = 0
  port.on("message", (m: unknown) => {
    if (m === null) {
      port.close()
      parentPort!.postMessage({ count, checksum })
      return
    }
    const add = (v: unknown) => {
      checksum += typeof v === "number" ? v : (v as { id: number; value: number }).id + (v as { value: number }).value
      count++
    }
    if (Array.isArray(m)) for (const v of m) add(v)
    else if (m instanceof Float64Array) for (let i = 0; i < m.length; i++) add(m[i])
    else add(m)
  })
})
