/**
 * What the process backend adds to the contract (which runs on it too): a child that dies any way
 * — a native abort, SIGKILL, an uncaught error, `process.exit`, a heap past its limit, garbage on
 * its IPC channel — fails only its own task with `WorkerLost` carrying why (signal, exit code, out
 * of memory) and is replaced; after the pool's scope closes, no child process is left (listed by
 * pid, from `/proc`), nor a pipe a process the child left behind holds; a program that dies
 * without closing its pool leaves no child (not even one blocked in a loop) and no status file;
 * children of a `node -e` program start; arrays are copied and a group that needs shared memory
 * fails when the pool is built; `cpus` pins each child to its CPUs, and a backend that cannot pin
 * says so.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { promisify } from "node:util"
import { InlineBackend, PoolError, ProcessBackend, Task, TaskError, ThreadBackend, WorkerPool } from "../../../src/index.ts"
import { Add, Carry, Crash, Nest, orphanMarker, ProcessTasks, ScribbleSum, SharedOnly, threadNice, Where } from "../../fixtures/process-tasks.ts"
import { poolReasonOf, reasonOf } from "../../support/backends.ts"

const entry = new URL("../../fixtures/process-worker.ts", import.meta.url)

const execFileAsync = promisify(execFile)

/** An ES module for `node --input-type=module -e`: `pool`, a process pool of `size` on this file's entry, then `body`. */
const poolProgram = (size: number, body: string): string =>
  [
    `import * as Effect from "effect/Effect"`,
    `import * as Layer from "effect/Layer"`,
    `import { ProcessBackend, Task, WorkerPool } from ${JSON.stringify(new URL("../../../src/index.ts", import.meta.url).href)}`,
    `import { Add, Crash, ProcessTasks, Spin } from ${JSON.stringify(new URL("../../fixtures/process-tasks.ts", import.meta.url).href)}`,
    `const pool = WorkerPool.layer(ProcessTasks, { entry: ${JSON.stringify(entry.href)}, size: ${size} }).pipe(Layer.provide(ProcessBackend.layer))`,
    body
  ].join("\n")

const pool = (options: Partial<WorkerPool.Options> = {}) =>
  WorkerPool.layer(ProcessTasks, { entry, size: 2, ...options }).pipe(Layer.provide(ProcessBackend.layer))

/** Process ids of this process's children that run a pool worker, read from `/proc`. */
const workerChildren = (): ReadonlyArray<number> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    try {
      // The parent pid is the 2nd field after the command name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      return parent === process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("processMain")
    } catch {
      return false // exited while we looked
    }
  })

/** The pids a `poolProgram` prints, as its first line. */
const firstLine = (program: ChildProcess) =>
  new Promise<ReadonlyArray<number>>((resolve, reject) => {
    let text = ""
    program.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes("\n")) resolve(JSON.parse(text))
    })
    program.once("exit", (code) => reject(new Error(`the program exited (${code}) before its pool started`)))
  })

/** Process ids of any process whose command line holds `marker`, read from `/proc`. */
const processesWith = (marker: string): ReadonlyArray<number> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)
    } catch {
      return false
    }
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids of `count` distinct workers (a replacement needs a moment to start). */
const awaitPids = (count: number) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answers = yield* Task.map(Where, Array.from({ length: 20 }, () => ({})), { chunkSize: 1 })
      const pids = new Set(answers.map((w) => w.pid))
      if (pids.size >= count) return pids
      yield* Effect.sleep("50 millis")
    }
    return assert.fail(`${count} workers never answered`)
  })

afterEach(() => {
  assert.strictEqual(ProcessBackend.liveProcesses(), 0)
  assert.deepStrictEqual(workerChildren(), [])
})

describe("process backend", () => {
  const deaths = [
    { how: "abort", exit: "Crashed", signal: "SIGABRT", says: "was killed by SIGABRT" },
    { how: "segv", exit: "Crashed", signal: "SIGSEGV", says: "was killed by SIGSEGV" },
    { how: "kill", exit: "Crashed", signal: "SIGKILL", says: "was killed by SIGKILL" },
    { how: "throw", exit: "Crashed", exitCode: 1, says: "crashed: RangeError: the native library threw" },
    { how: "exit", exit: "Exited", exitCode: 3, says: "exited with code 3" },
    // Was: Crashed, "crashed: Error: logged and survived": the error was recorded although a
    // listener kept the process alive, and the later exit was blamed on it.
    { how: "caught", exit: "Exited", exitCode: 3, says: "exited with code 3" },
    // Was: OutOfMemory: V8's out-of-memory line anywhere in its stderr was taken for its cause.
    { how: "quote", exit: "Exited", exitCode: 3, says: "exited with code 3" },
    // Were: this process died (Node's parser threw, uncaught; the Dispatcher read `null[0]`).
    { how: "garble", exit: "Crashed", signal: "SIGKILL", says: "sent a message this process cannot read (Error: Unable to deserialize" },
    { how: "chatter", exit: "Crashed", signal: "SIGKILL", says: "sent a message that is not the pool's: null" },
    // Was: "exited with code 7": rendering the value threw in the child's uncaught-error monitor,
    // and Node ended it at once (no exit hooks: the answers it held were lost too).
    { how: "opaque", exit: "Crashed", exitCode: 1, says: "crashed: an uncaught object that cannot be turned into text" }
  ] as const
  for (const death of deaths) {
    it.live(`a child that dies (${death.how}) fails only its task with WorkerLost ${death.exit}, and is replaced`, () =>
      Effect.gen(function*() {
        const before = yield* awaitPids(2)
        const [died, ...others] = yield* Effect.all([
          Task.run(Crash, { how: death.how }),
          ...Array.from({ length: 20 }, (_, i) => Task.run(Add, { a: i, b: 1 }))
        ], { concurrency: "unbounded", mode: "result" })
        assert.isTrue(Result.isFailure(died!))
        const reason = reasonOf((died as Result.Failure<unknown, TaskError.TaskError>).failure)
        assert.instanceOf(reason, TaskError.WorkerLost)
        const lost = reason as TaskError.WorkerLost
        assert.strictEqual(lost.exit, death.exit)
        assert.include(lost.message, death.says)
        assert.strictEqual(lost.signal, "signal" in death ? death.signal : undefined)
        assert.strictEqual(lost.exitCode, "exitCode" in death ? death.exitCode : undefined)
        assert.deepStrictEqual(others.map((r) => Result.isSuccess(r) ? r.success : "lost"), Array.from({ length: 20 }, (_, i) => i + 1))
        const after = yield* awaitPids(2)
        assert.strictEqual([...after].filter((pid) => !before.has(pid)).length, 1, "one new child replaced the dead one")
      }).pipe(Effect.provide(pool())))
  }

  // Was: the whole message, a megabyte here, went through the status file (processes) or the
  // worker's error event (threads) into `WorkerLost`.
  for (const [name, backend] of [["processes", ProcessBackend.layer], ["threads", ThreadBackend.layer]] as const) {
    it.live(`an uncaught error's text is cut to its start in WorkerLost, saying so (${name})`, () =>
      Effect.gen(function*() {
        const lost = reasonOf(yield* Effect.flip(Task.run(Crash, { how: "huge" }))) as TaskError.WorkerLost
        assert.instanceOf(lost, TaskError.WorkerLost)
        assert.strictEqual(lost.exit, "Crashed")
        assert.include(lost.message, "crashed: Error: start of it xxx")
        assert.include(lost.message, "characters cut)")
        assert.isBelow(lost.message.length, 8_192)
      }).pipe(Effect.provide(WorkerPool.layer(ProcessTasks, { entry, size: 1 }).pipe(Layer.provide(backend)))))
  }

  it.live("a child whose heap overflows its limit fails its task with WorkerLost OutOfMemory", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Task.run(Crash, { how: "oom" }))
      const lost = reasonOf(error) as TaskError.WorkerLost
      assert.instanceOf(lost, TaskError.WorkerLost)
      assert.strictEqual(lost.exit, "OutOfMemory")
      assert.strictEqual(lost.signal, "SIGABRT")
      assert.strictEqual(yield* Task.run(Add, { a: 1, b: 1 }), 2)
    }).pipe(Effect.provide(pool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 48 } }))))

  it.live("after the scope closes no child process is left, replacements included", () =>
    Effect.gen(function*() {
      const pids = new Set<number>()
      yield* Effect.gen(function*() {
        for (const pid of yield* awaitPids(2)) pids.add(pid)
        assert.deepStrictEqual([...workerChildren()].sort(), [...pids].sort(), "the pool's children, by pid")
        yield* Effect.flip(Task.run(Crash, { how: "kill" }))
        for (const pid of yield* awaitPids(2)) pids.add(pid)
      }).pipe(Effect.provide(pool()))
      assert.strictEqual(pids.size, 3)
      assert.deepStrictEqual([...pids].filter(alive), [])
      assert.deepStrictEqual(workerChildren(), [])
    }))

  // Was: this process died as the answer arrived (V8's deserializer overflowed its stack in Node's
  // channel parser, uncaught), as the README said it would.
  it.live("an answer nested deeper than this process can read fails its task with WorkerLost, and the pool goes on", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Task.run(Nest, { depth: 2 }), { o: { o: {} } })
      const lost = reasonOf(yield* Effect.flip(Task.run(Nest, { depth: 4_000 }))) as TaskError.WorkerLost
      assert.instanceOf(lost, TaskError.WorkerLost)
      assert.strictEqual(lost.exit, "Crashed")
      assert.include(lost.message, "sent a message this process cannot read (RangeError: Maximum call stack size exceeded)")
      assert.strictEqual(yield* Task.run(Add, { a: 1, b: 1 }), 2)
    }).pipe(Effect.provide(pool({ size: 1 }))))

  // Was: each child died reading the message (Node's parser threw in it), the task had not been
  // taken, so it went back to the queue uncounted (rule 7) and killed the next child, for good.
  it.live("a payload that kills every child on arrival fails with WorkerLost after three, and the pool goes on", () =>
    Effect.gen(function*() {
      // The empty module; `WebAssembly` is not in this project's type libraries.
      const { WebAssembly } = globalThis as unknown as { WebAssembly: { Module: new(bytes: Uint8Array) => object } }
      const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))
      const lost = reasonOf(yield* Effect.flip(Task.run(Carry, { value: module }))) as TaskError.WorkerLost
      assert.instanceOf(lost, TaskError.WorkerLost)
      assert.include(lost.message, "Unable to deserialize")
      assert.include(lost.message, "3 workers in a row died before taking this task")
      assert.strictEqual(yield* Task.run(Carry, { value: 1 }), "number")
      assert.strictEqual((yield* WorkerPool.stats(ProcessTasks)).workersStarted, 4)
    }).pipe(Effect.provide(pool({ size: 1 }))))

  // Was: "was terminated": the pool terminated it in the second its end waits for its stderr (held
  // by a process it left), after it had exited by itself, and that was taken for the cause.
  it.live("a child terminated after it exited, before its end is reported, is reported as it ended", () =>
    Effect.gen(function*() {
      const exits: Array<string> = []
      yield* WorkerPool.observe(ProcessTasks, (event) => {
        if (event._tag === "WorkerExited") exits.push(`${event.exit}: ${event.message}`)
      })
      const [pid] = yield* awaitPids(1)
      try {
        const fiber = yield* Effect.forkChild(Task.run(Crash, { how: "orphan" }))
        while (alive(pid!)) yield* Effect.sleep("10 millis")
        // Its end waits a second for the orphan's stderr; the cancel's grace runs out before.
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(exits, ["Exited: exited with code 3"])
      } finally {
        for (const orphan of processesWith(orphanMarker)) process.kill(orphan, "SIGKILL")
      }
    }).pipe(Effect.provide(pool({ size: 1, interruptGrace: "50 millis" }))))

  // Was: the dead child's stderr pipe (and channel), held open by the process it left, kept this
  // process alive after the pool's scope closed, until that process ended.
  it.live("a process a child leaves behind holds no handle of this process after the scope closes", () =>
    Effect.gen(function*() {
      const pipes = () => process.getActiveResourcesInfo().filter((resource) => resource === "PipeWrap").length
      // Opened on first use (a child's stderr is written to it), and kept.
      void process.stderr
      const before = pipes()
      try {
        const lost = reasonOf(yield* Effect.flip(Task.run(Crash, { how: "orphan" }).pipe(Effect.provide(pool({ size: 1 })))))
        assert.strictEqual((lost as TaskError.WorkerLost).exitCode, 3)
        // A pipe let go of closes on a later turn of the event loop; one held stays for the minute.
        for (let turn = 0; turn < 100 && pipes() > before; turn++) yield* Effect.sleep("20 millis")
        assert.strictEqual(pipes(), before)
      } finally {
        for (const pid of processesWith(orphanMarker)) process.kill(pid, "SIGKILL")
      }
    }))

  it.live("arrays are copied to a child; a group that needs shared memory fails when the pool is built", () =>
    Effect.gen(function*() {
      const values = new Float64Array([1, 2, 3])
      assert.strictEqual(yield* Task.run(ScribbleSum, { values }).pipe(Effect.provide(pool())), -995)
      assert.deepStrictEqual([...values], [1, 2, 3], "the child wrote into its copy")
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(WorkerPool.layer(SharedOnly, { entry, size: 1 }).pipe(Layer.provide(ProcessBackend.layer))))
      )
      const reason = poolReasonOf(error)
      assert.instanceOf(reason, PoolError.Unsupported)
      assert.strictEqual((reason as PoolError.Unsupported).capability, "sharesMemory")
    }))

  // Was: a child got the evaluated code (and `--input-type`, a flag's separate value) as its own
  // flags, took the code for its script and never started: the pool failed with WorkerInitFailed.
  it.live("a program run with node -e gets its pool's children: its code and flags' values stay with it", () =>
    Effect.promise(async () => {
      const code = poolProgram(1, `console.log(await Effect.runPromise(Task.run(Add, { a: 1, b: 2 }).pipe(Effect.provide(pool))))`)
      for (const flags of [["--input-type=module", "-e"], ["--inspect-port", "0", "--input-type", "module", "--eval"]]) {
        const { stdout } = await execFileAsync(process.execPath, [...flags, code], { timeout: 30_000 })
        assert.strictEqual(stdout, "3\n", flags.join(" "))
      }
    }))

  // Was: the program died of an uncaught EMFILE, thrown where the replacement's status file is
  // opened, out of the pool's handling of its retiring worker's answer.
  it.live("a worker that cannot be started (no file descriptor left) fails to start, and a later one starts", () =>
    Effect.promise(async () => {
      const code = poolProgram(1, [
        `import { closeSync, openSync } from "node:fs"`,
        `const exits = []`,
        `const recycling = WorkerPool.layer(ProcessTasks, { entry: ${JSON.stringify(entry.href)}, size: 1, maxTasksPerWorker: 1 })`,
        `await Effect.runPromise(Effect.scoped(Effect.gen(function*() {`,
        `  yield* WorkerPool.observe(ProcessTasks, (event) => { if (event._tag === "WorkerExited") exits.push(event.message) })`,
        `  const hogs = []`,
        `  try { for (;;) hogs.push(openSync("/dev/null", "r")) } catch {}`,
        // Its answer retires the worker, and its replacement starts then: with no descriptor left.
        `  const first = yield* Task.run(Add, { a: 1, b: 1 })`,
        `  yield* Effect.sleep("50 millis")`,
        `  for (const fd of hogs) closeSync(fd)`,
        `  const second = yield* Task.run(Add, { a: 1, b: 2 })`,
        `  console.log(JSON.stringify({ exits, first, second }))`,
        `})).pipe(Effect.provide(recycling.pipe(Layer.provide(ProcessBackend.layer)))))`
      ].join("\n"))
      const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", code], { timeout: 30_000 })
      const { exits, first, second } = JSON.parse(stdout)
      assert.deepStrictEqual([first, second], [2, 3])
      assert.match(exits[0], /^could not be started: EMFILE/)
    }))

  // Was: each child's status file (`/dev/shm/effect-parallel-<pid>-…`) stayed for good when the
  // program ended without closing its pool; only the pool's scope removed them.
  it.live("a program killed without closing its pool leaves no status file behind", () =>
    Effect.promise(async () => {
      const code = poolProgram(2, [
        `await Effect.runPromise(Effect.andThen(Task.map(Add, [{ a: 1, b: 1 }, { a: 2, b: 2 }], { chunkSize: 1 }),`,
        `  Effect.sync(() => console.log(JSON.stringify(ProcessBackend.livePids())))).pipe(Effect.andThen(Effect.never), Effect.provide(pool)))`
      ].join("\n"))
      const program = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] })
      const pids = await firstLine(program)
      assert.strictEqual(pids.length, 2)
      const statusDir = existsSync("/dev/shm") ? "/dev/shm" : tmpdir()
      const statusFiles = () => readdirSync(statusDir).filter((name) => name.startsWith(`effect-parallel-${program.pid}-`))
      program.kill("SIGKILL")
      // Its children see their channel close and exit.
      for (let attempt = 0; attempt < 200 && pids.some(alive); attempt++) await new Promise((r) => setTimeout(r, 50))
      assert.deepStrictEqual(pids.filter(alive), [], "the children exited")
      assert.deepStrictEqual(statusFiles(), [])
    }))

  // Was: a child killed with its program (its parent-death signal) before it had opened its status
  // file, and unlinked it, left the file.
  it.live("a program killed while its children start leaves no status file behind", () =>
    Effect.promise(async () => {
      const code = poolProgram(2, `await Effect.runPromise(Effect.provide(Effect.never, pool))`)
      const program = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "ignore", "inherit"] })
      const childrenOf = (parent: number) =>
        readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
            return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent
          } catch {
            return false
          }
        })
      let children: ReadonlyArray<number> = []
      while (children.length === 0 && program.exitCode === null) {
        await new Promise((r) => setTimeout(r, 2))
        children = childrenOf(program.pid!)
      }
      program.kill("SIGKILL")
      for (let attempt = 0; attempt < 100 && children.some(alive); attempt++) await new Promise((r) => setTimeout(r, 50))
      const statusDir = existsSync("/dev/shm") ? "/dev/shm" : tmpdir()
      assert.deepStrictEqual(readdirSync(statusDir).filter((name) => name.startsWith(`effect-parallel-${program.pid}-`)), [])
    }))

  // Was: the file was made with a name and unlinked just after; a program killed between the two
  // (CI: as its children started) left it. On Linux it now never has a name (`O_TMPFILE`).
  it.live.skipIf(process.platform !== "linux")("a child's status file never has a name", () =>
    Effect.gen(function*() {
      yield* Task.run(Add, { a: 1, b: 2 })
      const pids = ProcessBackend.livePids()
      assert.strictEqual(pids.length, 2)
      for (const pid of pids) {
        // What the child's fd 4 was opened as: `/dev/shm/#<inode> (deleted)` for an unnamed file.
        assert.notInclude(readlinkSync(`/proc/${pid}/fd/4`), "effect-parallel-")
      }
    }).pipe(Effect.provide(pool())))

  // Was: a child blocked in a synchronous loop never saw its channel close, and ran on, orphaned,
  // for as long as its loop did (here: for good) after its program was killed, or hit Ctrl-C
  // under a bare `Effect.runPromise`.
  const diesWithProgram = process.platform === "linux" && (process.env.PATH ?? "").split(":").some((dir) => existsSync(`${dir}/setpriv`))
    ? it.live
    : it.live.skip
  diesWithProgram("a child blocked in a synchronous loop dies with its program", () =>
    Effect.promise(async () => {
      const code = poolProgram(1, [
        `await Effect.runPromise(Effect.gen(function*() {`,
        `  yield* Task.run(Add, { a: 1, b: 1 })`,
        `  yield* Effect.forkChild(Task.run(Spin, {}))`,
        `  yield* Effect.sleep("300 millis")`,
        `  console.log(JSON.stringify(ProcessBackend.livePids()))`,
        `  yield* Effect.never`,
        `}).pipe(Effect.provide(pool)))`
      ].join("\n"))
      const program = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] })
      const pids = await firstLine(program)
      try {
        program.kill("SIGKILL")
        for (let attempt = 0; attempt < 100 && pids.some(alive); attempt++) await new Promise((r) => setTimeout(r, 50))
        assert.deepStrictEqual(pids.filter(alive), [], "the blocked child is gone")
      } finally {
        for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL")
      }
    }))

  describe("nice", () => {
    const lowers = ProcessBackend.backend.capabilities.lowersPriority ? it.live : it.live.skip
    const callerNice = () => threadNice((path) => readFileSync(path, "utf8"))

    for (const [name, backend] of [["threads", ThreadBackend.layer], ["processes", ProcessBackend.layer]] as const) {
      lowers(`${name}: every worker runs at the pool's nice value, and the caller keeps its own`, () =>
        Effect.gen(function*() {
          const before = callerNice()
          const all = yield* Task.map(Where, Array.from({ length: 20 }, () => ({})), { chunkSize: 1 })
          assert.deepStrictEqual([...new Set(all.map((w) => w.nice))], [Math.max(before, 7)])
          assert.strictEqual(callerNice(), before)
        }).pipe(Effect.provide(WorkerPool.layer(ProcessTasks, { entry, size: 2, nice: 7 }).pipe(Layer.provide(backend)))))
    }

    it.live("a backend that cannot lower priority fails the pool with Unsupported; a value out of 0–19 with InvalidOptions", () =>
      Effect.gen(function*() {
        const inline = yield* Effect.flip(Effect.scoped(Layer.build(
          WorkerPool.layer(ProcessTasks, { entry, size: 1, nice: 5 }).pipe(Layer.provide(InlineBackend.layer))
        )))
        assert.instanceOf(poolReasonOf(inline), PoolError.Unsupported)
        assert.strictEqual((poolReasonOf(inline) as PoolError.Unsupported).capability, "lowersPriority")
        for (const nice of [20, -1, 2.5]) {
          const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ nice }))))
          assert.instanceOf(poolReasonOf(error), PoolError.InvalidOptions, String(nice))
          assert.deepStrictEqual((poolReasonOf(error) as PoolError.InvalidOptions).path, ["nice"])
        }
      }))
  })

  describe("cpus", () => {
    const pinned = ProcessBackend.backend.capabilities.pinsCpus ? it.live : it.live.skip
    const last = cpus().length - 1

    pinned("an explicit list pins each worker, and its replacement, to its CPUs", () =>
      Effect.gen(function*() {
        const where = () => Effect.map(Task.map(Where, Array.from({ length: 20 }, () => ({})), { chunkSize: 1 }), (all) =>
          new Set(all.map((w) => w.cpus)))
        assert.deepStrictEqual([...(yield* where())].sort(), ["0", `${last}`].sort())
        yield* Effect.flip(Task.run(Crash, { how: "kill" }))
        yield* awaitPids(2)
        assert.deepStrictEqual([...(yield* where())].sort(), ["0", `${last}`].sort(), "the replacement took the dead one's CPU")
      }).pipe(Effect.provide(pool({ cpus: [0, [last]] }))))

    pinned("spread puts each worker on a CPU of its own", () =>
      Effect.gen(function*() {
        const all = yield* Task.map(Where, Array.from({ length: 20 }, () => ({})), { chunkSize: 1 })
        const byPid = new Map(all.map((w) => [w.pid, w.cpus]))
        assert.strictEqual(byPid.size, 2)
        assert.deepStrictEqual([...byPid.values()].sort(), ["0", "1"].sort().slice(0, Math.min(2, last + 1)))
      }).pipe(Effect.provide(pool({ cpus: "spread" }))))

    it.live("a backend that cannot pin fails the pool with Unsupported; a list that does not fit with InvalidOptions", () =>
      Effect.gen(function*() {
        const threads = yield* Effect.flip(Effect.scoped(Layer.build(
          WorkerPool.layer(ProcessTasks, { entry, size: 2, cpus: "spread" }).pipe(Layer.provide(ThreadBackend.layer))
        )))
        assert.instanceOf(poolReasonOf(threads), PoolError.Unsupported)
        assert.strictEqual((poolReasonOf(threads) as PoolError.Unsupported).capability, "pinsCpus")
        if (!ProcessBackend.backend.capabilities.pinsCpus) return
        const cases: Array<[WorkerPool.Options["cpus"], ReadonlyArray<string | number>]> = [
          [[0, 1, 0], ["cpus"]],
          [[last + 1, 0], ["cpus", 0]],
          [[0, [0, last + 1]], ["cpus", 1, 1]],
          [[-1, 0], ["cpus"]],
          ["all" as never, ["cpus"]]
        ]
        for (const [cpus, path] of cases) {
          const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ cpus }))))
          assert.instanceOf(poolReasonOf(error), PoolError.InvalidOptions, JSON.stringify(cpus))
          assert.deepStrictEqual((poolReasonOf(error) as PoolError.InvalidOptions).path.slice(0, path.length), path, JSON.stringify(cpus))
        }
      }))
  })
})
