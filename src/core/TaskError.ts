/**
 * How a task fails, besides the errors it declares itself: one `TaskError` whose `reason` says
 * what happened.
 *
 * Contains the wrapper (`TaskError`: the task's name and id, the worker, the attempts and a
 * bounded rendering of the input, so a failure in a log says what failed, where, and on what),
 * its reasons (`Defect`, `PayloadInvalid`, `WorkerLost`, `Timeout`, `PoolClosed`,
 * `PoolSaturated`), and `renderInput` and `renderPath`, which never throw.
 *
 * ```ts
 * Task.run(Resize, image).pipe(
 *   Effect.catchReason("TaskError", "Timeout", (timeout, error) => Effect.succeed(fallback(error.input)))
 * )
 * ```
 *
 * Interruption is never one of these: an interrupted caller is an interrupted fiber. A failure
 * the handler declared arrives as itself, never wrapped.
 */
import * as Schema from "effect/Schema"
import { inspect, types } from "node:util"

const Path = Schema.Array(Schema.Union([Schema.String, Schema.Number]))

/**
 * The handler threw or died, or its result (or declared error) did not match its Schema: a bug
 * in the handler. Keeps the remote error's name, message and stack.
 */
export class Defect extends Schema.TaggedError<Defect>()("Defect", {
  remoteName: Schema.String,
  message: Schema.String,
  remoteStack: Schema.String
}) {}

/**
 * The payload cannot cross: it does not match the task's payload Schema, it cannot be cloned
 * (a function, a symbol, a proxy …), or it carries a shared array that was released. Only that
 * task fails; the rest of its batch and pool go on. `path` names the offending field
 * (`["nested", "b", 1]`) where it can be found.
 */
export class PayloadInvalid extends Schema.TaggedError<PayloadInvalid>()("PayloadInvalid", {
  path: Path,
  message: Schema.String
}) {}

/**
 * The worker holding the task stopped before answering. `exit` says how: it `Crashed` (an
 * uncaught error), `Exited` (`process.exit`), ran `OutOfMemory`, or was `Terminated` by the pool
 * (a handler that ignored its interruption or timeout).
 */
export class WorkerLost extends Schema.TaggedError<WorkerLost>()("WorkerLost", {
  exit: Schema.Literals(["Crashed", "Exited", "OutOfMemory", "Terminated"]),
  message: Schema.String,
  /** The worker's exit code, where its backend knows it (`process.exit(3)`: 3). */
  exitCode: Schema.optional(Schema.Number),
  /** The signal that ended a child process: `"SIGKILL"`, `"SIGABRT"` (an abort, or V8 out of memory) … */
  signal: Schema.optional(Schema.String)
}) {}

/** The task ran longer than its timeout. Its handler was interrupted inside the worker. */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * The pool closed (its scope ended) before the task finished, or it is broken: no replacement
 * worker could be started.
 */
export class PoolClosed extends Schema.TaggedError<PoolClosed>()("PoolClosed", {
  message: Schema.String
}) {}

/**
 * The pool's queue had no room for the call (`maxQueued`) and the call asked not to wait for it:
 * the queue was full, or the call has more tasks than it holds (then it never fits).
 */
export class PoolSaturated extends Schema.TaggedError<PoolSaturated>()("PoolSaturated", {
  maxQueued: Schema.Number
}) {
  override get message(): string {
    // Not "full": a call larger than the queue is refused by an empty one.
    return `no room in the pool's queue for the call (maxQueued ${this.maxQueued})`
  }
}

export const TaskErrorReason = Schema.Union([Defect, PayloadInvalid, WorkerLost, Timeout, PoolClosed, PoolSaturated])
export type TaskErrorReason = typeof TaskErrorReason.Type

/**
 * A task failed for a reason other than its declared error.
 *
 * **Details**: `taskId` is the pool-wide id of its last attempt (-1 when it never reached a
 * worker); `workerId` the worker that held it (-1 when the caller's side rejected it); `attempts`
 * how many times it was sent, retries included; `input` a bounded rendering of its payload, and
 * `index` its position among a batch call's inputs (`(input #3: …)` in the message).
 */
export class TaskError extends Schema.TaggedError<TaskError>()("TaskError", {
  taskName: Schema.String,
  taskId: Schema.Number,
  workerId: Schema.Number,
  attempts: Schema.Number,
  input: Schema.String,
  reason: TaskErrorReason,
  /** The cluster runner whose pool held the task (`host/pid`); absent on a local pool. */
  runner: Schema.optional(Schema.String),
  /**
   * The actor whose method this is (the task is `<actor>.<method>`); absent for a task. `actorId`
   * is its id in the pool that ran it, absent when the call never reached one (a cluster caller's).
   */
  actor: Schema.optional(Schema.String),
  actorId: Schema.optional(Schema.Number),
  /**
   * Which input failed: its position among the inputs of the `Task.map` or `mapUnordered`, or
   * among the elements of the `Task.stream` (or fail-fast `Pipeline.task`) stage, it belongs to,
   * from 0. Absent for a single call.
   */
  index: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const worker = this.workerId < 0 ? "" : ` on worker ${this.workerId}`
    const where = this.runner === undefined ? worker : `${worker} of runner ${this.runner}`
    // The input is cut to a few hundred characters: the path is what finds the field in a large one.
    const at = this.reason._tag === "PayloadInvalid" && this.reason.path.length > 0 ? ` at ${renderPath(this.reason.path)}` : ""
    // An actor's method is named as `ActorError` names its actor: `actor Counter#3, method add`.
    const what = this.actor === undefined
      ? `task ${this.taskName}`
      : `actor ${this.actor}${this.actorId === undefined ? "" : `#${this.actorId}`}, method ${
        this.taskName.slice(this.actor.length + 1)
      }`
    const input = this.index === undefined ? "input" : `input #${this.index}`
    return `${what}${where}: ${this.reason._tag}${at}: ${this.reason.message} (${input}: ${this.input})`
  }

  /**
   * A `Defect`'s remote error, with the worker's stack: `Cause.pretty` and `inspect` print it as
   * `[cause]`, so a printed defect shows where in the handler it happened, not only the frames
   * of the pool's that answered the caller. Absent for any other reason.
   */
  override get cause(): unknown {
    if (this.reason._tag !== "Defect") return undefined
    let remote = remoteCauses.get(this)
    if (remote === undefined) {
      remote = new RemoteDefect(this.reason)
      remoteCauses.set(this, remote)
    }
    return remote
  }
}

/** A defect as its worker threw it: its name, message and stack (`Defect`'s fields). */
class RemoteDefect extends Error {
  constructor(defect: Defect) {
    super(defect.message)
    // As its own property, as V8 sets it: `inspect` would add a `[name]` after a prototype's.
    Object.defineProperty(this, "name", { value: defect.remoteName, writable: true, configurable: true, enumerable: false })
    this.stack = defect.remoteStack === "" ? `${defect.remoteName}: ${defect.message}` : defect.remoteStack
  }
}

const remoteCauses = new WeakMap<TaskError, RemoteDefect>()

/** The longest input rendering an error carries: enough to recognise the input, never a dump. */
export const maxInputRendering = 200

/** How deep a rendering goes, and how many elements of an array it shows. */
const renderDepth = 2
const renderElements = 8

/**
 * Entries (properties, elements, Map and Set entries) a rendering takes. Each renders as two
 * characters at least, so these already fill more than `maxInputRendering`: no later entry can
 * show, and the rendering ends by saying how many were left instead.
 */
const maxEntriesRendered = 128

/**
 * Renders a task input for an error message, bounded in depth, array length and characters, and
 * in work: objects (plain or class instances), arrays, Maps and Sets are rendered from their first
 * entries only, and nothing after them is read (`inspect` formats every key of an object: one of
 * 200,000 keys took ~110 ms, in the pool's event listener for the dashboard and insights). When
 * those entries fill the rendering it ends with how many entries were left, of the container
 * that left the most (`… [199,873 more keys]`). Never throws: an input that cannot be inspected
 * (a throwing proxy, a hostile getter) renders as a note saying so.
 *
 * **Gotchas**: listing an object's keys is one native call, linear in its number of keys (~0.35
 * µs a key on a 1,000,000-key object, which V8 keeps as a dictionary); nothing lists only the first
 * ones. An Error shows its name and message, not its stack. Typed arrays, boxed values, dates and
 * the like go to `inspect` as they are (it bounds their own entries), as do an array's non-index
 * keys: only a native call lists them without its elements (`Object.keys` of a 1,000,000-element
 * array took 38–119 ms), so an array with many is still formatted whole.
 */
export const renderInput = (input: unknown): string => {
  let text: string
  let note = ""
  try {
    const budget: Budget = { left: maxEntriesRendered, skipped: 0, cut: undefined, headers: [] }
    text = inspect(shown(input, 0, budget, new Map()), {
      depth: renderDepth,
      maxArrayLength: renderElements,
      maxStringLength: 64,
      breakLength: Infinity,
      compact: true,
      getters: false,
      customInspect: false
    })
    // A Map or Set cut short is a stand-in: its header is put back as the input's.
    for (const { header, marker } of budget.headers) text = text.replace(marker, header)
    if (budget.cut !== undefined) note = ` [${budget.cut.left.toLocaleString("en-US")} more ${budget.cut.unit}]`
  } catch (error) {
    text = `<input could not be rendered: ${describeError(error)}>`
  }
  if (note === "") return text.length <= maxInputRendering ? text : `${text.slice(0, maxInputRendering - 1)}…`
  return `${text.slice(0, maxInputRendering - note.length - 1)}…${note}`
}

interface Budget {
  /** Entries the rendering may still take. */
  left: number
  /** Containers whose entries were left out, so far. */
  skipped: number
  /** Of the containers the rendering stopped in, the one that left the most entries. */
  cut: { left: number; unit: string } | undefined
  /** Stand-ins for Maps and Sets cut short: the text to find, and the input's header. */
  readonly headers: Array<{ readonly marker: string; readonly header: string }>
}

/** `left` entries of a container were not rendered. */
const leftOut = (budget: Budget, left: number, unit: string): void => {
  if (left > 0) budget.skipped++
  if (left > 0 && (budget.cut === undefined || left > budget.cut.left)) budget.cut = { left, unit }
}

/**
 * Notes the length of a typed array about to be moved (transferred), for renderings made after it
 * moved: a moved array's own view is detached (empty), and an error about its task is rendered
 * once the task failed, long after it left.
 */
export const noteMoved = (view: ArrayBufferView): void => {
  movedLengths.set(view, (view as { readonly length?: number }).length ?? view.byteLength)
}

const movedLengths = new WeakMap<ArrayBufferView, number>()

/**
 * How a rendering shows a typed array (or `DataView`) whose buffer was moved away: its kind and, if
 * it was moved by a task (`noteMoved`), its length then; never the `Float64Array(0) []` its view is now.
 */
class Moved {
  readonly kind: string
  readonly length?: number
  constructor(view: ArrayBufferView) {
    this.kind = Object.prototype.toString.call(view).slice(8, -1)
    const length = movedLengths.get(view)
    if (length !== undefined) this.length = length
  }
}

/**
 * What a rendering of `value` can show: objects (plain or class instances: copied, same
 * prototype), arrays (copied only when an element is) and Maps and Sets (copied only when an entry
 * is cut short), to the rendering's depth, with the entries after the first `budget.left` (in
 * rendering order) left out; a moved typed array as `Moved { kind, length }`. Other values go as
 * they are: `inspect` bounds those itself. Getters are copied, never called; a cycle points to its
 * target's copy, as `[Circular]` needs.
 */
const shown = (value: unknown, depth: number, budget: Budget, copies: Map<object, unknown>): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer && value.buffer.detached) return new Moved(value)
  // A cycle shows as `[Circular]` even below the rendering's depth.
  const known = copies.get(value)
  if (known !== undefined) return known
  if (depth > renderDepth || types.isProxy(value)) return value
  const proto = Object.getPrototypeOf(value)
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) return value
    const shownLength = Math.min(value.length, renderElements)
    // A sparse one shows elements past the first few (a run of holes is one item): left to inspect.
    for (let i = 0; i < shownLength; i++) if (!Object.hasOwn(value, i)) return value
    copies.set(value, value)
    let copy: Array<unknown> | undefined
    for (let i = 0; i < shownLength; i++) {
      if (budget.left <= 0) {
        // The rest cannot show: holes (`… more items` keeps the length) instead of their walk.
        copy ??= copyOf(value, i)
        leftOut(budget, value.length - i, "items")
        break
      }
      budget.left--
      const element = Object.getOwnPropertyDescriptor(value, i)!
      if ("value" in element) {
        const inner = shown(element.value, depth + 1, budget, copies)
        if (inner !== element.value) copy ??= copyOf(value, i)
        element.value = inner
      }
      if (copy !== undefined) Object.defineProperty(copy, i, element)
    }
    copies.delete(value)
    // Elements past the first few never show; the rendering says so when its entries ran out.
    if (budget.left <= 0) leftOut(budget, value.length - shownLength, "items")
    return copy ?? value
  }
  if (types.isMap(value) || types.isSet(value)) return shownEntries(value, proto, depth, budget, copies)
  if (types.isNativeError(value) || value instanceof Error) return shownError(value as Error, proto, depth, budget, copies)
  if (!ordinary(value)) return value
  const copy = Object.create(proto) as object
  // `inspect` names an object by its tag even when it is an own, hidden property.
  const tag = Object.getOwnPropertyDescriptor(value, Symbol.toStringTag)
  if (tag !== undefined && !tag.enumerable) Object.defineProperty(copy, Symbol.toStringTag, tag)
  // After the cut: not even its keys are read.
  if (budget.left <= 0) {
    budget.skipped++
    return copy
  }
  copies.set(value, copy)
  shownKeys(value, copy, depth, budget, copies)
  copies.delete(value)
  return copy
}

/**
 * An Error as `inspect` shows one, from bounded reads: its name and message (not its stack: where
 * an input was built says nothing of the task, and its frames would fill the rendering), its
 * `cause` and an AggregateError's `errors`, then its first enumerable own properties, walked as an
 * object's. `inspect` of the Error itself formats every own key (320–485 ms for one huge property).
 */
const shownError = (
  value: Error,
  proto: object | null,
  depth: number,
  budget: Budget,
  copies: Map<object, unknown>
): unknown => {
  const copy = Object.create(proto) as Error
  const name = String(value.name ?? "Error").slice(0, maxInputRendering)
  const message = String(value.message ?? "").slice(0, maxInputRendering)
  for (const [key, text] of [["message", message], ["stack", message === "" ? name : `${name}: ${message}`]] as const) {
    Object.defineProperty(copy, key, { value: text, writable: true, configurable: true, enumerable: false })
  }
  if (budget.left <= 0) {
    budget.skipped++
    return copy
  }
  copies.set(value, copy)
  shownKeys(value, copy, depth, budget, copies)
  // Own and hidden, yet shown by `inspect`, after the other keys.
  for (const key of ["cause", "errors"] as const) {
    const property = Object.getOwnPropertyDescriptor(value, key)
    if (property === undefined || property.enumerable) continue
    if (budget.left <= 0) {
      leftOut(budget, 1, "keys")
      continue
    }
    budget.left--
    if ("value" in property) property.value = shown(property.value, depth + 1, budget, copies)
    Object.defineProperty(copy, key, property)
  }
  copies.delete(value)
  return copy
}

/** Copies `value`'s enumerable own properties (symbols too) to `copy`, the first ones in the budget, each value shown. */
const shownKeys = (value: object, copy: object, depth: number, budget: Budget, copies: Map<object, unknown>): void => {
  const keys: Array<string | symbol> = Object.keys(value)
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol)
  }
  for (let i = 0; i < keys.length; i++) {
    if (budget.left <= 0) {
      leftOut(budget, keys.length - i, "keys")
      break
    }
    budget.left--
    const key = keys[i]!
    const property = Object.getOwnPropertyDescriptor(value, key)!
    if ("value" in property) property.value = shown(property.value, depth + 1, budget, copies)
    Object.defineProperty(copy, key, property)
  }
}

/**
 * A Map's or Set's first entries, walked as elements are. When the rendering's entries ran out in
 * them, a stand-in (a Map or Set of the entries walked, its class named by a marker) goes to
 * `inspect`, and its header is replaced by the input's own (`Map(200000)`, `Registry(3) [Map]`) in
 * the text; otherwise the input itself does (`inspect` then reads no more than the walk did).
 */
const shownEntries = (
  value: Map<unknown, unknown> | Set<unknown>,
  proto: object | null,
  depth: number,
  budget: Budget,
  copies: Map<object, unknown>
): unknown => {
  const isMap = types.isMap(value)
  const size: number = isMap ? mapSize.call(value) : setSize.call(value)
  const unit = isMap ? "entries" : "items"
  // Read through the built-in iterators: a subclass's own (or a patched one) is never called.
  const iterator = isMap ? mapEntries.call(value as Map<unknown, unknown>) : setValues.call(value as Set<unknown>)
  const next = (isMap ? mapIteratorNext : setIteratorNext) as (this: Iterator<unknown>) => IteratorResult<unknown>
  // Made first, so that a cycle back to the input points to it, as `[Circular]` needs.
  const marker = `\u0000cut${budget.left}\u0000` // `left` falls between two Maps or Sets walked: unique
  const StandIn = isMap ? class extends Map {} : class extends Set {}
  Object.defineProperty(StandIn, "name", { value: marker })
  const standIn = new StandIn() as Map<unknown, unknown> & Set<unknown>
  copies.set(value, standIn)
  const skippedBefore = budget.skipped
  let walked = 0
  for (; walked < Math.min(size, renderElements); walked++) {
    if (budget.left <= 0) break
    budget.left--
    const step = next.call(iterator)
    if (step.done === true) break
    if (isMap) {
      const [key, entry] = step.value as [unknown, unknown]
      standIn.set(shown(key, depth + 1, budget, copies), shown(entry, depth + 1, budget, copies))
    } else {
      standIn.add(shown(step.value, depth + 1, budget, copies))
    }
  }
  copies.delete(value)
  if (budget.left <= 0) leftOut(budget, size - walked, unit)
  if (budget.skipped === skippedBefore) return value
  const kind = isMap ? "Map" : "Set"
  budget.headers.push({ marker: `${marker}(${standIn.size}) [${kind}]`, header: headerOf(proto, kind, size) })
  return standIn
}

/** A Map's or Set's header as `inspect` writes it (its class, size, and kind when the class is another's). */
const headerOf = (proto: object | null, kind: string, size: number): string => {
  if (proto === null) return `[${kind}(${size}): null prototype]`
  let name: unknown = undefined
  for (let at: object | null = proto; at !== null && name === undefined; at = Object.getPrototypeOf(at)) {
    const constructor = Object.getOwnPropertyDescriptor(at, "constructor")
    if (constructor !== undefined) name = typeof constructor.value === "function" ? constructor.value.name : ""
  }
  return typeof name === "string" && name !== "" && name !== kind ? `${name}(${size}) [${kind}]` : `${kind}(${size})`
}

/** An object `inspect` shows as its own enumerable properties and class name, with no internal state of its own. */
const ordinary = (value: object): boolean =>
  !(types.isArgumentsObject(value) || types.isAnyArrayBuffer(value) || types.isArrayBufferView(value) ||
    types.isBoxedPrimitive(value) || types.isDate(value) || types.isRegExp(value) || types.isNativeError(value) ||
    value instanceof Error || types.isPromise(value) || types.isWeakMap(value) || types.isWeakSet(value) ||
    types.isMapIterator(value) || types.isSetIterator(value) || types.isGeneratorObject(value) ||
    types.isModuleNamespaceObject(value) || types.isExternal(value) || types.isKeyObject(value) || types.isCryptoKey(value))

// The built-ins, as loaded: a rendering never calls what an input (or a patch) put in their place.
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size")!.get! as (this: Map<unknown, unknown>) => number
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size")!.get! as (this: Set<unknown>) => number
const mapEntries = Map.prototype.entries
const setValues = Set.prototype.values
const mapIteratorNext = Object.getPrototypeOf(new Map().entries()).next
const setIteratorNext = Object.getPrototypeOf(new Set().values()).next

/** An array of `array`'s length holding its elements before `end` as they are. */
const copyOf = (array: ReadonlyArray<unknown>, end: number): Array<unknown> => {
  const copy = new Array<unknown>(array.length)
  for (let i = 0; i < end; i++) {
    const element = Object.getOwnPropertyDescriptor(array, i)
    if (element !== undefined) Object.defineProperty(copy, i, element)
  }
  return copy
}

/** The most steps of a path a message spells out, and the most characters of each. */
const maxPathSteps = 16
const maxStepLength = 64

/**
 * Renders a payload path for a message (`["nested","b",1]`), bounded like an input: a nesting
 * thousands deep shows its first steps and how many more there are. Never throws.
 */
export const renderPath = (path: ReadonlyArray<string | number>): string => {
  const steps = path.slice(0, maxPathSteps).map((step) =>
    typeof step === "string" && step.length > maxStepLength ? `${step.slice(0, maxStepLength - 1)}…` : step
  )
  const text = JSON.stringify(steps)
  return path.length <= maxPathSteps ? text : `${text.slice(0, -1)},… ${path.length - maxPathSteps} more]`
}

const describeError = (error: unknown): string => {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : typeof error
  } catch {
    return "unknown error"
  }
}
