/**
 * Measures the two transports the process backend could use, to choose one (README, Backends):
 * `child_process.fork`'s IPC channel with `serialization: "advanced"`, and a pipe of our own
 * (an extra stdio fd) carrying length-prefixed `v8.serialize` frames. For each: the round trip of
 * one small message at a time, small messages per second with 32 in flight, and the round trip of
 * an 8 MiB `Float64Array`. Each transport runs twice, interleaved.
 *
 * `flock -o /tmp/cpu.lock node scripts/process-transport.ts` (the child is `process-transport.child.ts`).
 */
import { type ChildProcess, fork } from "node:child_process"
import type { Readable, Writable } from "node:stream"
import { deserialize, serialize } from "node:v8"
import { Frames, frame } from "./process-transport.child.ts"

interface Transport {
  readonly child: ChildProcess
  readonly send: (message: unknown) => void
  readonly onMessage: (handler: () => void) => void
}

const child = new URL("./process-transport.child.ts", import.meta.url)

const ipc = (): Transport => {
  const process = fork(child, ["ipc"], { serialization: "advanced" })
  return { child: process, send: (m) => process.send(m as never), onMessage: (f) => void process.removeAllListeners("message").on("message", f) }
}

const pipe = (): Transport => {
  const process = fork(child, ["pipe"], { stdio: ["inherit", "inherit", "inherit", "pipe", "ipc"] })
  const socket = process.stdio[3] as unknown as Readable & Writable
  let handler = () => {}
  const frames = new Frames((body) => {
    deserialize(body)
    handler()
  })
  socket.on("data", (chunk: Buffer) => frames.push(chunk))
  return { child: process, send: (m) => socket.write(frame(serialize(m))), onMessage: (f) => void (handler = f) }
}

const small = [2, 1, "Add", { a: 1, b: 2 }, 0]
const big = [2, 1, "X", new Float64Array(1 << 20), 0]

/** Microseconds per round trip, one message at a time. */
const roundTrip = (t: Transport, n: number, message: unknown) =>
  new Promise<number>((resolve) => {
    let i = 0
    const t0 = performance.now()
    t.onMessage(() => {
      if (++i === n) resolve((performance.now() - t0) * 1000 / n)
      else t.send(message)
    })
    t.send(message)
  })

/** Messages per second with `window` in flight. */
const pipelined = (t: Transport, n: number, window: number) =>
  new Promise<number>((resolve) => {
    let got = 0
    let sent = 0
    const t0 = performance.now()
    t.onMessage(() => {
      if (++got === n) resolve(n / ((performance.now() - t0) / 1000))
      else if (sent < n) {
        sent++
        t.send(small)
      }
    })
    for (; sent < window; sent++) t.send(small)
  })

for (const [name, make] of [["ipc advanced", ipc], ["pipe + v8.serialize", pipe], ["ipc advanced", ipc], ["pipe + v8.serialize", pipe]] as const) {
  const t = make()
  await new Promise((resolve) => setTimeout(resolve, 300))
  await roundTrip(t, 2_000, small)
  const rt = await roundTrip(t, 10_000, small)
  await pipelined(t, 20_000, 32)
  const rate = await pipelined(t, 100_000, 32)
  const bigMs = (await roundTrip(t, 20, big)) / 1000
  console.log(`${name}: round trip ${rt.toFixed(1)} µs, ${Math.round(rate)} msg/s with 32 in flight, 8 MiB Float64Array round trip ${bigMs.toFixed(1)} ms`)
  t.child.kill()
}
