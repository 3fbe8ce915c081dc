/**
 * Ctrl-C (issue 12, case 4; issue 15, section 5 for processes): a program run by
 * `NodeRuntime.runMain` with a pool of threads or child processes busy in a `Task.map` gets
 * SIGINT, or SIGTERM. runMain interrupts the main fiber; the map's tasks are
 * cancelled in the workers (running handlers interrupted, queued ones never started), the pool's
 * scope closes, each worker runs its exit hooks and exits, and then the process exits.
 *
 * The program is `test/fixtures/ctrl-c.ts`, run as a child process.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const program = fileURLToPath(new URL("../fixtures/ctrl-c.ts", import.meta.url))

/** The fixture's pool `shutdownTimeout`: past it a worker is terminated, and its exit hooks are lost. */
const shutdownTimeoutMillis = 10_000

const tempDir = () => mkdtempSync(join(tmpdir(), "ep-ctrl-c-"))

/** Resolves when the child printed `line`; rejects if it exits first. */
const printed = (child: ChildProcess, line: string, output: { text: string }) =>
  new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output.text += chunk.toString()
      if (output.text.split("\n").includes(line)) resolve()
    })
    child.once("exit", (code, signal) => reject(new Error(`the program exited (${code ?? signal}) before printing "${line}"`)))
  })

/** The child's exit, or `undefined` if it is still running after `millis`. */
const exited = (child: ChildProcess, millis: number) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), millis)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/**
 * Threads: the signal goes to the program alone. Processes: to its whole process group, as a
 * terminal's Ctrl-C does — the children get it too, and must leave their shutdown to the pool.
 */
const backends = [{ name: "threads", group: false }, { name: "processes", group: true }] as const

describe.each(backends)("Ctrl-C under NodeRuntime.runMain on $name", ({ group, name }) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal}${group ? " to the process group" : ""}: the map's tasks are cancelled in the workers, their finalizers and both workers' exit hooks run, the process exits, no worker is left`, async () => {
      const dir = tempDir()
      const exitDir = tempDir()
      const child = spawn(process.execPath, [program, dir, name], {
        env: { ...process.env, EP_EXIT_DIR: exitDir },
        stdio: ["ignore", "pipe", "pipe"],
        // A process group of its own, so the group's signal reaches the program and its workers only.
        detached: group
      })
      let stderr = ""
      child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
      const stdout = { text: "" }
      try {
        await printed(child, "started", stdout)
        const workers = (/^pids (.*)$/m.exec(stdout.text)?.[1] ?? "").split(" ").filter((pid) => pid !== "").map(Number)
        assert.strictEqual(workers.length, group ? 2 : 0)
        if (group) process.kill(-child.pid!, signal)
        else child.kill(signal)
        // A hang detector, not a timing: a clean exit needs no grace, and a program still alive
        // after the pool's shutdownTimeout had its workers terminated, or never closed its pool.
        const exit = await exited(child, shutdownTimeoutMillis)
        assert.isDefined(exit, `the program was still running ${shutdownTimeoutMillis} ms after ${signal}`)
        // runMain's teardown: an interrupted main fiber exits with 130, rather than dying by the signal.
        assert.deepStrictEqual(exit, { code: 130, signal: null }, stderr)
        assert.strictEqual(stderr, "")
        assert.deepStrictEqual(readdirSync(exitDir).sort(), ["exit-0", "exit-1"], "each worker ran its exit hooks")
        // One task ran in each worker: both were interrupted and their finalizers ran; the
        // queued ones (pipelined behind them, or still in the pool) never started.
        const markers = readdirSync(dir).sort()
        assert.deepStrictEqual(markers, ["finalized-0", "finalized-1", "started-0", "started-1"])
        assert.isFalse(alive(child.pid!), "the program's process is left")
        assert.deepStrictEqual(workers.filter(alive), [], "a worker process is left")
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      }
    })
  }
})
