/**
 * Cluster runner processes for tests and benchmarks: `effect-parallel runner` started from the
 * sources on 127.0.0.1, each awaited until it prints its ready line, stopped with SIGTERM (then
 * SIGKILL after a grace) when the owner is done.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

export interface RunnerProcess {
  readonly port: number
  readonly pid: number
  readonly child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
  /** Resolves with how it exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

export interface RunnerOptions {
  readonly module: string
  readonly db: string
  readonly port: number
  /** Seconds before a killed runner's shards move (`--failover`). */
  readonly failover?: number | undefined
  readonly workers?: number | undefined
  readonly readyTimeoutMillis?: number | undefined
}

export const startRunner = (options: RunnerOptions): Promise<RunnerProcess> => {
  const args = [
    "--conditions=effect-parallel-source",
    "src/cli/main.ts",
    "runner",
    "--module",
    options.module,
    "--db",
    options.db,
    "--port",
    String(options.port),
    ...(options.failover === undefined ? [] : ["--failover", String(options.failover)]),
    ...(options.workers === undefined ? [] : ["--workers", String(options.workers)])
  ]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += chunk))
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`runner on port ${options.port} not ready in time:\n${output}`))
    }, options.readyTimeoutMillis ?? 60_000)
    const onData = () => {
      if (!output.includes("runner ready")) return
      clearTimeout(timer)
      child.stdout!.off("data", onData)
      resolve({ port: options.port, pid: child.pid!, child, output: () => output, exited })
    }
    child.stdout!.on("data", onData)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`runner on port ${options.port} exited (${code ?? signal}) before it was ready:\n${output}`))
    })
  })
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMillis`. */
export const stopRunner = async (runner: RunnerProcess, graceMillis = 20_000): Promise<void> => {
  if (runner.child.exitCode !== null || runner.child.signalCode !== null) return
  runner.child.kill("SIGTERM")
  const timer = setTimeout(() => runner.child.kill("SIGKILL"), graceMillis)
  await runner.exited
  clearTimeout(timer)
}

/**
 * A port nothing listens on now, from the OS (other suites and sessions on this machine run
 * runners and servers too: fixed ports collide). The runner binds it a moment later.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
