/**
 * Where a serving row's latency goes, measured inside the server process (any variant: it listens
 * to Node's HTTP and net diagnostics channels, not to our code).
 *
 * Contains `startDiagnostics`, which records until `take()` returns and resets:
 * - `server`: time from Node's `request` event to the response's `finish` (the whole server-side
 *   life of a request: routing, body, queue, batch, answer), by status;
 * - `loopDelay`: the event loop's delay (`monitorEventLoopDelay`, 1 ms resolution): how late the
 *   main thread runs what is ready;
 * - `gc`: main-thread GC pauses (count, total, longest);
 * - `mainCpuMs`: CPU the main thread used (the rest of the process's is its other threads');
 * - `accepted`: connections accepted;
 * - `sockets`: for each remote port seen since the last `take`, when its connection was accepted
 *   and its last request started and finished (epoch ms), so a client of the bench can split its
 *   own latencies into accept wait, server time and its own lag.
 */
import diagnosticsChannel from "node:diagnostics_channel"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { createHistogram, monitorEventLoopDelay, PerformanceObserver, type RecordableHistogram } from "node:perf_hooks"

export interface HistogramSummary {
  readonly count: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

export interface SocketTimes {
  accepted?: number
  requestStart?: number
  finish?: number
}

export interface Diagnostics {
  readonly server: Record<string, HistogramSummary>
  readonly loopDelay: HistogramSummary
  readonly gc: { readonly count: number; readonly totalMs: number; readonly maxMs: number }
  readonly mainCpuMs: number
  readonly accepted: number
  readonly sockets: Record<string, SocketTimes>
}

const epoch = () => performance.timeOrigin + performance.now()

const summary = (h: { count: number; percentile: (q: number) => number; max: number }, unitMs: number): HistogramSummary => ({
  count: h.count,
  p50Ms: h.count === 0 ? 0 : Math.round((h.percentile(50) / unitMs) * 100) / 100,
  p99Ms: h.count === 0 ? 0 : Math.round((h.percentile(99) / unitMs) * 100) / 100,
  maxMs: h.count === 0 ? 0 : Math.round((h.max / unitMs) * 100) / 100
})

export const startDiagnostics = (): { readonly take: () => Diagnostics } => {
  const byStatus = new Map<number, RecordableHistogram>()
  const started = new WeakMap<object, number>()
  let sockets = new Map<number, SocketTimes>()
  let accepted = 0
  const times = (port: number | undefined): SocketTimes | undefined => {
    if (port === undefined) return undefined
    let entry = sockets.get(port)
    if (entry === undefined) sockets.set(port, entry = {})
    return entry
  }
  diagnosticsChannel.subscribe("net.server.socket", (message) => {
    accepted++
    const entry = times((message as { socket: Socket }).socket.remotePort)
    if (entry !== undefined) entry.accepted = epoch()
  })
  diagnosticsChannel.subscribe("http.server.request.start", (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse }
    started.set(response, performance.now())
    const entry = times(request.socket.remotePort)
    if (entry !== undefined) entry.requestStart = epoch()
  })
  diagnosticsChannel.subscribe("http.server.response.finish", (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse }
    const at = started.get(response)
    if (at === undefined) return
    let h = byStatus.get(response.statusCode)
    if (h === undefined) byStatus.set(response.statusCode, h = createHistogram())
    h.record(Math.max(1, Math.round((performance.now() - at) * 1000)))
    const entry = times(request.socket?.remotePort)
    if (entry !== undefined) entry.finish = epoch()
  })
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  let gc = { count: 0, totalMs: 0, maxMs: 0 }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++
      gc.totalMs += entry.duration
      gc.maxMs = Math.max(gc.maxMs, entry.duration)
    }
  }).observe({ entryTypes: ["gc"] })
  let cpu = process.threadCpuUsage()
  return {
    take: () => {
      const now = process.threadCpuUsage()
      const result: Diagnostics = {
        server: Object.fromEntries([...byStatus].map(([status, h]) => [String(status), summary(h, 1000)])),
        loopDelay: summary(loop, 1e6),
        gc: { count: gc.count, totalMs: Math.round(gc.totalMs), maxMs: Math.round(gc.maxMs * 10) / 10 },
        mainCpuMs: Math.round((now.user - cpu.user + now.system - cpu.system) / 1000),
        accepted,
        sockets: Object.fromEntries([...sockets].map(([port, t]) => [String(port), t]))
      }
      byStatus.clear()
      sockets = new Map()
      accepted = 0
      loop.reset()
      gc = { count: 0, totalMs: 0, maxMs: 0 }
      cpu = now
      return result
    }
  }
}
