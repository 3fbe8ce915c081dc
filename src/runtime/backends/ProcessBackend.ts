/**
 * Workers as child processes of Node, each running `processMain.ts` with the user's entry module:
 * a worker that crashes natively (`process.abort()`, a segfault in an addon), overflows its heap
 * or is killed takes nothing down with it but its own process.
 *
 * Transport: the IPC channel of `child_process` with `serialization: "advanced"` (V8's
 * serializer: typed arrays, Map, Set, Date, BigInt, errors), chosen by measurement over a pipe of
 * our own with length-prefixed `v8.serialize` frames (README, Backends). Nothing is shared: shared
 * arrays cannot cross (`sharesMemory: false`, so a pool whose tasks carry them fails when it is
 * built), and arrays declared `memory: "copied"` are copied, as every payload is.
 *
 * What shared memory tells a thread's pool, a child tells through a small status file (on
 * `/dev/shm` where there is one; laid out in `statusFile.ts`): the count of tasks it took off its
 * queue (the Dispatcher's rule 7), how long it has been busy (its rule 12), and the text of the
 * uncaught error that ended it. It has no name (`O_TMPFILE`; the child
 * gets it as its fd 4), so nothing is left however either process ends. Its stderr passes through this process
 * and its last kilobytes are kept: V8 says there that a heap ran out of memory (the child then
 * dies of SIGABRT).
 *
 * Also tracks every process it started until Node reports its exit, so tests (and users) can
 * check that a closed pool left no process behind.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, constants as fsConstants, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { inspect } from "node:util"
import { fileURLToPath } from "node:url"
import { detachMoved, type WorkerExit } from "../protocol/protocol.ts"
import { busyAt, crashTextAt, takenAt } from "../protocol/statusFile.ts"
import {
  type Backend,
  type Connection,
  defaultYoungGenerationSizeMb,
  type PoolSpec,
  realTimers,
  WorkerBackend,
  type WorkerEvents
} from "./Backend.ts"
import { moduleHref } from "./entry.ts"

/** `.ts` when Node runs the sources, `.js` in the build (see `ThreadBackend.ts`). */
const processMain = fileURLToPath(
  new URL(`../worker/processMain${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)
)

const statusDir = existsSync("/dev/shm") ? "/dev/shm" : tmpdir()

/**
 * Linux's `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`; `__O_TMPFILE` is 0o20000000 on every
 * architecture Node runs on, `O_DIRECTORY` is not, so Node's is used). Node does not export it.
 */
const O_TMPFILE = process.platform === "linux" ? 0o20000000 | fsConstants.O_DIRECTORY : undefined

/**
 * A status file with no name: the child gets it as its fd 4, so nothing is left however either
 * process ends. Where `O_TMPFILE` is missing (another OS, a file system without it) the file is
 * made with a name and unlinked at once; a kill between the two leaves it (CI saw one left by a
 * program SIGKILLed as its children started).
 */
const openStatusFile = (workerId: number): number => {
  if (O_TMPFILE !== undefined) {
    try {
      return openSync(statusDir, O_TMPFILE | fsConstants.O_RDWR, 0o600)
    } catch {
      // EISDIR / EOPNOTSUPP / EINVAL: not supported here; named below.
    }
  }
  const statusPath = join(statusDir, `effect-parallel-${process.pid}-${workerId}-${Math.random().toString(36).slice(2)}`)
  const status = openSync(statusPath, "w+", 0o600)
  rmSync(statusPath)
  return status
}

/** The status file's descriptor in a child (`stdio[4]`). */
const statusFd = 4

/** How long after a child's exit its stderr may stay open (a grandchild holding it) before the exit is reported anyway. */
const closeWaitMillis = 1_000

/** What of a child's stderr is kept, to tell an out-of-memory death from another abort. */
const stderrTailBytes = 4_096

const live = new Map<ChildProcess, number>()

/** Child processes started by any pool whose exit Node has not yet reported. */
export const liveProcesses = (): number => live.size

/** Their process ids. */
export const livePids = (): ReadonlyArray<number> => [...live.values()]

/** A Linux command on the `PATH` (util-linux's), if there is one. */
const linuxCommand = (name: string): string | undefined =>
  process.platform === "linux"
    ? (process.env.PATH ?? "/usr/bin:/bin").split(delimiter).map((dir) => join(dir, name)).find((path) => existsSync(path))
    : undefined

/** `taskset`, where this platform has it (Linux, util-linux): what pins a process and its threads to cores. */
const taskset = linuxCommand("taskset")

/**
 * `setpriv`, where this platform has it (Linux, util-linux): starts a child with the kernel's
 * parent-death signal set to SIGKILL. A child leaves when its channel closes, but one blocked in
 * a synchronous loop never hears that: without the signal it would run on, orphaned, after this
 * process died (killed, or Ctrl-C under a bare `runPromise`, which the children ignore). The
 * kernel watches the thread that started the child: a pool built in a worker thread loses its
 * children when that thread ends, as it loses the pool.
 */
const setpriv = linuxCommand("setpriv")

/**
 * Child processes: crashes of any kind contained in their process, heap limits through V8 flags,
 * handlers that never yield stopped by SIGKILL, and (Linux, with `taskset`) CPU pinning. No
 * shared memory: every payload is copied.
 */
export const backend: Backend = {
  name: "processes",
  capabilities: {
    sharesMemory: false,
    canTerminate: true,
    isolatesCrashes: true,
    heapLimits: true,
    pinsCpus: taskset !== undefined,
    lowersPriority: process.platform === "linux"
  },
  timers: realTimers,
  defaultSize: availableParallelism,
  make: (spec) =>
    Effect.map(moduleHref(spec.entry, "processes"), (entry) => {
      const execArgv = childExecArgv(spec)
      // Slot i of the pool keeps cpus[i] through replacements: a new worker takes the first free slot.
      const slots: Array<boolean> = Array.from({ length: spec.size }, () => false)
      const cpus = spec.cpus === "spread" ? spread(spec.size) : spec.cpus
      return {
        spawn: (workerId, events) => {
          const slot = Math.max(0, slots.indexOf(false))
          slots[slot] = true
          return spawnProcess(entry, execArgv, cpus?.[slot], spec.recycleAboveHeapMb, spec.nice, workerId, {
            onMessage: events.onMessage,
            onExit: (exit) => {
              slots[slot] = false
              events.onExit(exit)
            }
          })
        }
      }
    })
}

/** Pools in its scope run on child processes. */
export const layer: Layer.Layer<WorkerBackend> = Layer.succeed(WorkerBackend, backend)

/**
 * The parent's Node flags (its `--conditions`, loaders, …) minus those that must not be repeated
 * in a child (an inspector port, watch or test mode, an evaluated script and its input type), plus
 * the heap limits.
 */
const childExecArgv = (spec: PoolSpec): ReadonlyArray<string> => {
  const inherited = parentFlags(process.execArgv)
  const young = spec.resourceLimits?.maxYoungGenerationSizeMb ?? defaultYoungGenerationSizeMb
  const old = spec.resourceLimits?.maxOldGenerationSizeMb
  const parentStack = Number(/^--stack-size=(\d+)$/.exec(inherited.findLast((flag) => flag.startsWith("--stack-size=")) ?? "")?.[1] ?? 984)
  return [
    ...inherited,
    // V8's young generation is three semi-spaces' worth (two semi-spaces and the new large-object
    // space); 0 keeps V8's own.
    ...(young === 0 ? [] : [`--max-semi-space-size=${Math.max(1, Math.round(young / 3))}`]),
    // V8's deserializer takes twice the stack per level of nesting its serializer takes: with the
    // same stack, a payload this process could send (3,295 levels deep by default) would overflow
    // the child's stack as it arrives (past 1,647), killing it before it took the task — and the
    // task, never started, would be sent again for ever. Twice the stack reads what we can write.
    `--stack-size=${2 * parentStack + 64}`,
    ...(old === undefined ? [] : [`--max-old-space-size=${old}`])
  ]
}

/** Flags a child must not get: it runs `processMain.ts` as its script, with no inspector, watcher or test runner of its own. */
const notForChildren = /^(--(inspect|debug|watch|test|eval|print|input-type)|-[ep]+$)/

/**
 * `execArgv` without the flags a child must not get, and their values. `execArgv` holds only
 * options and their values (never the script), so a word after a dropped flag that is not a flag
 * is its value (`-e <code>`, `--inspect-port 0`): left behind, the child would take it for its
 * script. The code of `-e`/`--eval` goes with it whatever it starts with.
 */
const parentFlags = (execArgv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const kept: Array<string> = []
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!
    if (!notForChildren.test(flag)) {
      kept.push(flag)
    } else if (!flag.includes("=") && i + 1 < execArgv.length) {
      const next = execArgv[i + 1]!
      if (/^(-e|--eval|-pe)$/.test(flag) || !next.startsWith("-")) i++
    }
  }
  return kept
}

const spawnProcess = (
  entry: string,
  execArgv: ReadonlyArray<string>,
  cpus: ReadonlyArray<number> | undefined,
  recycleAboveHeapMb: number | undefined,
  nice: number | undefined,
  workerId: number,
  events: WorkerEvents
): Connection => {
  const node = [...execArgv, processMain, entry, String(workerId), String(statusFd), String(recycleAboveHeapMb ?? ""), String(nice ?? "")]
  const pinned = cpus === undefined ? [process.execPath, ...node] : [taskset!, "-c", cpus.join(","), process.execPath, ...node]
  const [command, ...args] = setpriv === undefined ? pinned : [setpriv, "--pdeathsig", "KILL", ...pinned]
  let status: number
  let child: ChildProcess
  try {
    status = openStatusFile(workerId)
  } catch (error) {
    return unstarted(error, events)
  }
  try {
    child = spawn(command!, args, { stdio: ["ignore", "inherit", "pipe", "ipc", status], serialization: "advanced" })
  } catch (error) {
    closeSync(status)
    return unstarted(error, events)
  }
  let alive = true
  let terminated = false
  let stderrTail = ""
  let exitCode: number | null = null
  let signal: NodeJS.Signals | null = null
  let startError: Error | undefined
  let refused: string | undefined
  let closeTimer: ReturnType<typeof setTimeout> | undefined

  const ended = () => {
    if (!alive) return
    alive = false
    clearTimeout(closeTimer)
    live.delete(child)
    // Reported by the timer, its pipes are still open: a process it left holds them. Let go of
    // them, or they keep this process alive after the pool is closed.
    child.stderr?.destroy()
    if (child.connected) child.disconnect()
    // The Dispatcher reads `tasksTaken` inside `onExit`; the file goes after.
    events.onExit(classify(startError, refused, terminated, exitCode, signal, crashText(status), stderrTail))
    closeSync(status)
  }

  // The IPC channel is the pool's. A child that puts anything else on it (a `process.send` of its
  // own, bytes a native library wrote to fd 3) is killed and reported as crashed: what it sent
  // would otherwise throw in this process, uncaught, and end it.
  const refuse = (why: string) => {
    if (!alive || refused !== undefined) return
    refused = why
    child.kill("SIGKILL")
  }
  if (child.pid !== undefined) live.set(child, child.pid)
  child.on("message", (message: unknown) => {
    if (!alive || refused !== undefined) return
    if (!Array.isArray(message) || typeof message[0] !== "number") {
      return refuse(`sent a message that is not the pool's: ${inspect(message, { depth: 1 }).slice(0, 200)}`)
    }
    try {
      events.onMessage(message as never)
    } catch (error) {
      refuse(`sent a message the pool could not take (${errorText(error)})`)
    }
  })
  // Node parses the channel's frames in the `onread` of its pipe handle, and throws there, out of
  // reach of any listener, on bytes that are not a frame. The handle is not public (`child.channel`
  // is a wrapper): it is found by its symbol's name, and without it a child's garbage still ends us.
  const handleKey = Object.getOwnPropertySymbols(child).find((key) => key.description === "kChannelHandle")
  const channel = handleKey === undefined ? undefined : (child as unknown as Record<symbol, { onread?: unknown } | null>)[handleKey]
  const onread = channel?.onread
  if (channel != null && typeof onread === "function") {
    channel.onread = function(this: unknown, ...args: Array<unknown>) {
      try {
        return onread.apply(this, args)
      } catch (error) {
        refuse(`sent a message this process cannot read (${errorText(error)})`)
      }
    }
  }
  child.stderr!.on("data", (chunk: Buffer) => {
    process.stderr.write(chunk)
    stderrTail = (stderrTail + chunk.toString()).slice(-stderrTailBytes)
  })
  child.on("error", (error) => {
    // Only a child that could not be started ends here; failed sends and kills are reported elsewhere.
    if (child.pid !== undefined) return
    startError = error
    ended()
  })
  child.on("exit", (code, exitSignal) => {
    exitCode = code
    signal = exitSignal
    // What the child said (its last answers, its stderr) comes before its end: wait for its pipes.
    closeTimer = setTimeout(ended, closeWaitMillis)
  })
  child.on("close", ended)

  const readCount = new Int32Array(1)
  const readBusy = new Uint32Array(1)
  return {
    send: (message, transfer) => {
      // Serialization errors throw here, at once (nothing was sent); a closed channel is an exit to come.
      child.send(message, undefined, undefined, ignoreSendError)
      // The channel copies; moved buffers end detached here all the same, as across threads.
      detachMoved(transfer)
    },
    terminate: () => {
      // Exited already (its end waits for its pipes): the cause is what it died of, not this.
      if (!alive || exitCode !== null || signal !== null) return
      terminated = true
      child.kill("SIGKILL")
    },
    tasksTaken: () => {
      readSync(status, readCount, 0, 4, takenAt)
      return readCount[0]!
    },
    // Rule 12 on processes: at 2 ms a message (the threads' size) maps of equal 1 ms tasks ran at
    // 1.01-1.02x a one-task-at-a-time `fork` pool against 1.13x with static chunks, an IPC trip
    // (and the pool's turn on a busy machine) costing more than a thread's; 4 and 8 ms read 1.08-1.14x.
    messageMillis: 8,
    busyMicros: () => {
      // Before the child's first answers the file may be shorter: nothing read, 0 as it was.
      readBusy[0] = 0
      readSync(status, readBusy, 0, 4, busyAt)
      return readBusy[0]!
    }
  }
}

/**
 * A worker whose process could not be made (no descriptor left for its status file: EMFILE): it
 * ends, on a later turn as every exit does, as a child that could not be started would. Thrown,
 * the error would leave this process from wherever the pool starts a worker (a replacement, in
 * the handling of a message or of an exit), and the pool would go on one worker short.
 */
const unstarted = (error: unknown, events: WorkerEvents): Connection => {
  const message = `could not be started: ${error instanceof Error ? error.message : String(error)}`
  setImmediate(() => events.onExit({ kind: "Crashed", message }))
  return { send: () => {}, terminate: () => {} }
}

const ignoreSendError = () => {}

const errorText = (error: unknown): string => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** Worker i on the i-th CPU this process may run on (its affinity, which a container or `taskset` may narrow), round robin. */
const spread = (size: number): ReadonlyArray<ReadonlyArray<number>> => {
  const allowed = allowedCpus()
  return Array.from({ length: size }, (_, i) => [allowed[i % allowed.length]!])
}

/** `Cpus_allowed_list` of `/proc/self/status` ("0-3,8"), as CPU numbers. */
const allowedCpus = (): ReadonlyArray<number> => {
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"
  return list.split(",").flatMap((range) => {
    const [from, to = from] = range.split("-").map(Number) as [number, number?]
    return Array.from({ length: to - from + 1 }, (_, i) => from + i)
  })
}

/**
 * The most of the status file read after the count: the child writes at most 4,096 characters
 * of text (`processMain.ts`), 3 bytes each at most, plus a note that it cut them; a file made
 * longer (a handler writing to fd 4) is not read whole.
 */
const maxCrashTextBytes = 16_384

/** The uncaught error that ended the child, as it wrote it after the count, or "". */
const crashText = (status: number): string => {
  const size = fstatSync(status).size
  if (size <= crashTextAt) return ""
  const text = Buffer.alloc(Math.min(size - crashTextAt, maxCrashTextBytes))
  return text.subarray(0, readSync(status, text, 0, text.length, crashTextAt)).toString()
}

/** How a child ended, in the pool's terms, with its exit code or signal. */
const classify = (
  startError: Error | undefined,
  refused: string | undefined,
  terminated: boolean,
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  crashed: string,
  stderrTail: string
): WorkerExit => {
  const detail = { ...(exitCode === null ? {} : { exitCode }), ...(signal === null ? {} : { signal }) }
  if (startError !== undefined) return { kind: "Crashed", message: `could not be started: ${startError.message}` }
  if (refused !== undefined) return { kind: "Crashed", message: `was killed: it ${refused}`, ...detail }
  if (terminated) return { kind: "Terminated", message: "was terminated", ...detail }
  // V8 aborts after it says so; the same words from a process of the child's own (its stderr goes
  // through the child's), followed by another end, are not the child's out of memory.
  if ((signal === "SIGABRT" || process.platform === "win32") && /heap out of memory|Reached heap limit/.test(stderrTail)) {
    return { kind: "OutOfMemory", message: `ran out of memory (${signal === null ? `exit code ${exitCode}` : signal})`, ...detail }
  }
  if (crashed !== "") return { kind: "Crashed", message: `crashed: ${crashed}`, ...detail }
  if (signal !== null) return { kind: "Crashed", message: `was killed by ${signal}`, ...detail }
  return { kind: "Exited", message: `exited with code ${exitCode}`, ...detail }
}
