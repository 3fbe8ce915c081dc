/**
 * Channels: bounded, typed, multi-producer multi-consumer queues in shared memory, whose handles
 * travel in task and actor payloads — Python's `multiprocessing.Queue`, without the pickling and
 * without inheritance: any worker that receives the handle, and the caller, can send and take.
 *
 * Contains the model (`Channel`, `NumericChannel`), the constructor (`make`, scoped), the payload
 * Schema (`schema`), sending (`send`, `sendAll`), taking (`take`, `takeUpTo`, `takeArray`), the
 * blocking forms for synchronous handlers (`takeBlocking`, `sendAllBlocking`), `close`, the stream
 * views (`toStream`, `sink`) and counts (`size`, `abandoned`). The ring and
 * its numbered concurrency rules are in `runtime/memory/Ring.ts`; what a cell holds in
 * `runtime/memory/Cells.ts`.
 *
 * ```ts
 * const jobs = yield* Channel.make(Job, { capacity: 1024 })            // closed with the scope
 * yield* Effect.all([
 *   Effect.andThen(Task.run(Produce, { out: jobs }), Channel.close(jobs)), // close where the senders finish
 *   Task.run(Consume, { from: jobs })                                      // ends once jobs is closed and drained
 * ], { concurrency: 2 })
 * // in the worker: payload { out: Channel.schema(Job) }
 * yield* Channel.send(out, job)
 * yield* Channel.toStream(from).pipe(Stream.runForEach(handle))
 * ```
 *
 * **Elements.** A numeric kind (`"Float64"`, `"Float32"`, `"Int32"`, `"Uint8"`) holds one number
 * per cell and moves batches as typed arrays (`sendAll` of a typed array, `takeArray`): the fast
 * path, tens of millions of numbers a second. Any other Schema is encoded once into fixed-size
 * slots (`slotBytes`, default 256) — a flat struct of numbers, strings and booleans field by field in
 * binary, a typed array (`SharedArray.array(kind, { memory: "copied" | "moved" })`) as its bytes, one
 * array a slot and a fresh copy for each taker, anything else by its JSON codec. A value that fails
 * its Schema or does not fit fails its own send with a `ChannelError`, before anything is written.
 *
 * **Waiting.** A send waits while the channel is full, a take while it is empty, without blocking
 * the thread (`Atomics.waitAsync`): the worker's other fibers run meanwhile. Interrupting a waiting
 * send or take sends or takes nothing more; a `sendAll` interrupted while it waits for room leaves
 * the values it sent before in the channel.
 *
 * **Closing.** `close` (or the end of the scope that made the channel) stops sends; takers drain
 * what is left, then see the end (`Cause.Done`; `toStream` ends).
 *
 * **Workers that die.** The ring has no lock. A worker that dies between claiming a cell and
 * publishing (or releasing) it leaves that cell stuck; a waiter behind it abandons it after
 * `abandonAfter` (default 5 s) and the channel flows again — the dead worker's element is lost
 * (counted in `abandoned`), never duplicated or torn (`Ring.ts`, rule 8).
 *
 * **Gotchas**: the capacity is rounded up to a power of two. Order is FIFO per sender; with many
 * takers, which taker gets which element is not fixed. Channels need shared memory: a pool on the
 * process backend refuses tasks that carry them.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import { Abandoned, ChannelError, Closed, TooLarge, ValueInvalid } from "../core/ChannelError.ts"
import { annotationKey, arrayElementOf, encodesAsItselfKey, type Kind, kinds, type PlainViews, constructors } from "../core/SharedArray.ts"
import { durationMillis } from "../runtime/internal/duration.ts"
import {
  contentsOfCode,
  encodedCodeOf,
  EncodedCells,
  kindCodes,
  kindOfCode,
  lengthBytes,
  NumericCells,
  type Refusal
} from "../runtime/memory/Cells.ts"
import {
  allocate,
  CurrentWaits,
  describe,
  Ended,
  layout,
  maxCapacity,
  Ring,
  roundCapacity,
  type Sighting,
  simulatedStep,
  type Waits
} from "../runtime/memory/Ring.ts"

export * from "../core/ChannelError.ts"

export const TypeId = "~effect-parallel/Channel" as const
export type TypeId = typeof TypeId

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/** A channel of `A`s: a handle to its shared memory, good in any thread that receives it. */
export interface Channel<A> {
  readonly [TypeId]: TypeId
  /** The element and capacity, for messages: `Float64[1024]`, `Job[64]`. */
  readonly name: string
  readonly capacity: number
  /** Type-level only: the element type (invariant). */
  readonly "~element"?: ((_: A) => A) | undefined
  /** @internal the cells over the ring. */
  readonly cells: NumericCells | EncodedCells<A>
}

/** A channel of numbers of one kind: batches move as typed arrays (`sendAll`, `takeArray`). */
export interface NumericChannel<K extends Kind> extends Channel<number> {
  readonly kind: K
  /** @internal */
  readonly cells: NumericCells
}

/** What a channel holds: a numeric kind, or any Schema. */
export type Element = Kind | Schema.Top

/** The channel of an element. */
export type Of<E extends Element> = E extends Kind ? NumericChannel<E> : E extends Schema.Top ? Channel<E["Type"]> : never

export interface MakeOptions {
  /**
   * Elements it holds before a send waits; rounded up to a power of two. Default 1024, or fewer for
   * large slots: the largest power of two whose slots fit 64 MB (at least 2), since every slot
   * becomes resident as the ring goes round.
   */
  readonly capacity?: number | undefined
  /** Bytes per slot of a Schema channel, its 4-byte length included. Default 256. */
  readonly slotBytes?: number | undefined
  /** How long a claimed cell may stay unpublished or unreleased before a waiter abandons it. Default 5 s. */
  readonly abandonAfter?: Duration.Input | undefined
}

export const isChannel = (u: unknown): u is Channel<any> => typeof u === "object" && u !== null && TypeId in u

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/**
 * A channel of `element`s owned by the current Scope: it is closed when the scope closes (takers
 * elsewhere drain it and end), and its memory is freed once no thread references it.
 *
 * Dies with a `RangeError` for an element that is neither a numeric kind nor a Schema, a
 * capacity that is not a positive integer up to 2²⁴, a `slotBytes` under 8, or an `abandonAfter`
 * that is not a duration above 0, and with a `TypeError`
 * for an element of shared arrays (a channel copies its elements; declare them `"copied"`) or one
 * with arrays, matrices or channels inside it (send whole arrays as elements instead).
 */
export const make = <const E extends Element>(element: E, options?: MakeOptions): Effect.Effect<Of<E>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => makeUnsafe(element, options)),
    (channel) => Effect.sync(() => void channel.cells.ring.close())
  )

/**
 * A channel that no scope owns (closed only by `close`; freed by the garbage collector): for a
 * worker that makes one for its own use.
 */
export const makeUnsafe = <const E extends Element>(element: E, options?: MakeOptions): Of<E> => {
  checkElement(element, "Channel.make")
  const abandonAfter = abandonMillis(options?.abandonAfter)
  if (typeof element === "string") {
    const kind = element as Kind
    const buffer = allocateRing(capacityOf(options, 1024), constructors[kind].BYTES_PER_ELEMENT, kindCodes[kind], abandonAfter)
    return attach(element, buffer) as Of<E>
  }
  const requestedSlot = options?.slotBytes ?? 256
  if (!Number.isSafeInteger(requestedSlot) || requestedSlot < 8 || requestedSlot > 1 << 24) {
    throw new RangeError(
      `Channel.make: slotBytes must be an integer from 8 to ${1 << 24}, got ${requestedSlot}` +
        (requestedSlot > 1 << 24 ? " (a slot holds at most 16 MB: pass larger arrays as shared arrays in task payloads)" : "")
    )
  }
  const slotBytes = Math.ceil(requestedSlot / 4) * 4
  return attach(element, allocateRing(capacityOf(options, defaultCapacity(slotBytes)), slotBytes, encodedCodeOf(element as Schema.Top), abandonAfter)) as Of<E>
}

/**
 * The ring's memory, or a `RangeError` saying how much a channel of this size keeps: V8's "Array
 * buffer allocation failed" named neither (a capacity and a slotBytes each in range may together
 * ask for terabytes).
 */
const allocateRing = (capacity: number, slotBytes: number, code: number, abandonAfter: number): SharedArrayBuffer => {
  try {
    return allocate(capacity, slotBytes, code, abandonAfter)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    throw new RangeError(
      `Channel: cannot allocate ${capacity} slots of ${slotBytes} bytes (${layout(capacity, slotBytes).byteLength} bytes with its header): ` +
        `${error.message}; a channel keeps capacity × slotBytes bytes`,
      { cause: error }
    )
  }
}

/**
 * Refuses what is neither a numeric kind nor a Schema (untyped code): `Channel.make(Float64Array)`
 * died with "Cannot read properties of undefined (reading 'annotations')".
 */
const checkElement = (element: unknown, where: string): void => {
  if (typeof element === "string" ? kinds.includes(element as Kind) : Schema.isSchema(element)) return
  const given = typeof element === "function"
    ? `the function ${element.name || "(anonymous)"}`
    : typeof element === "string"
    ? `"${element}"`
    : typeof element === "object" && element !== null
    ? "an object that is not a Schema"
    : String(element)
  throw new RangeError(`${where}: the element must be a numeric kind (${kinds.join(", ")}) or a Schema, got ${given}`)
}

/** The capacity asked for (or `fallback`), checked and rounded up to a power of two. */
const capacityOf = (options: MakeOptions | undefined, fallback: number): number => {
  const requested = options?.capacity ?? fallback
  if (!Number.isSafeInteger(requested) || requested < 1 || requested > maxCapacity) {
    throw new RangeError(`Channel.make: capacity must be an integer from 1 to ${maxCapacity}, got ${requested}`)
  }
  return roundCapacity(requested)
}

/** Bytes of slots a channel made without a capacity holds at most (unless 2 slots are more). */
const defaultSlotsBytes = 64 * 1024 * 1024

/**
 * 1024, or the largest power of two whose slots fit `defaultSlotsBytes`, at least 2. The ring
 * writes every slot as its positions go round, so all of them end up resident: with 1024 slots of
 * whole 800 KB arrays, one array in flight at a time left a process ~1 GB larger.
 */
const defaultCapacity = (slotBytes: number): number => {
  let capacity = 1024
  while (capacity > 2 && capacity * slotBytes > defaultSlotsBytes) capacity /= 2
  return capacity
}

// ---------------------------------------------------------------------------------------------
// Handles in payloads
// ---------------------------------------------------------------------------------------------

/** A `SharedArrayBuffer`, marked as shared memory so pools on backends without it refuse it. */
const SharedBuffer = Schema.declare((u): u is SharedArrayBuffer => u instanceof SharedArrayBuffer, {
  expected: "a channel's SharedArrayBuffer",
  [annotationKey]: "Uint8",
  [encodesAsItselfKey]: true
})

const HandleEncoded = Schema.Struct({ channel: SharedBuffer })

const schemas = new WeakMap<object, Schema.Top>()
const kindSchemas = new Map<Kind, Schema.Top>()

/**
 * The Schema of a channel of `element`s inside a payload (of a task, an actor method or an
 * actor's init): the handle crosses as its shared memory, and the worker's decoded handle sends
 * and takes on the same ring. A handle of another element — another kind, or a channel made with
 * another Schema object, even one of the same shape — is a payload error (`PayloadInvalid`) naming
 * both; the slot size is the channel's own, and any will do.
 */
export const schema = <const E extends Element>(element: E): Schema.Codec<Of<E>, { readonly channel: SharedArrayBuffer }> => {
  checkElement(element, "Channel.schema")
  const cache = typeof element === "string" ? kindSchemas.get(element as Kind) : schemas.get(element as object)
  if (cache !== undefined) return cache as any
  const made = HandleEncoded.pipe(
    Schema.decodeTo(
      Schema.declareConstructor<Of<E>>()(
        [],
        () => (u, ast, options) =>
          isChannel(u) && sameElement(u, element)
            ? Effect.succeed(u as Of<E>)
            : Effect.fail(
              isChannel(u)
                ? new SchemaIssue.InvalidValue({ message: otherElement(u, element) })
                : new SchemaIssue.InvalidType(ast, u, options)
            ),
        {
          expected: `a channel of ${elementName(element)}`,
          // Shared memory on the type side too: a pool checks it there against its backend.
          [annotationKey]: "Uint8"
        }
      ),
      SchemaTransformation.transformEffect({
        decode: (encoded) => {
          try {
            return Effect.succeed(attach(element, encoded.channel) as Of<E>)
          } catch (error) {
            return Effect.fail(new SchemaIssue.InvalidValue({ message: (error as Error).message }))
          }
        },
        encode: (channel: Of<E>) => Effect.succeed({ channel: channel.cells.ring.buffer })
      })
    )
  )
  if (typeof element === "string") kindSchemas.set(element as Kind, made)
  else schemas.set(element as object, made)
  return made as any
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/**
 * Sends one value, waiting while the channel is full. A value that fails its Schema fails the send
 * with `ValueInvalid`, its path starting at the value (`["op"]`: no index, unlike `sendAll`'s).
 */
export const send = <A>(channel: Channel<A>, value: NoInfer<A>): Effect.Effect<void, ChannelError> =>
  sendValues(channel, [value], true)

/**
 * Sends every value in order, waiting for room as it goes; on a numeric channel `values` may be
 * a typed array, copied straight into the ring. Every value is checked (and encoded) before the
 * first is sent: one that fails its Schema or does not fit a slot fails the whole call, with its
 * index first in the error's path, and sends nothing.
 *
 * **Gotchas**: a `sendAll` larger than the free room is sent in parts as takers make room, not
 * at once: a close that comes while it waits fails it with `Closed`, after the values sent until
 * then (the message says how many), and an interruption stops it there, those values staying in
 * the channel. Values of other senders may come between its parts.
 */
export const sendAll: {
  <K extends Kind>(channel: NumericChannel<K>, values: ArrayLike<number>): Effect.Effect<void, ChannelError>
  <A>(channel: Channel<A>, values: ReadonlyArray<NoInfer<A>>): Effect.Effect<void, ChannelError>
} = (channel: Channel<any>, values: ArrayLike<any>): Effect.Effect<void, ChannelError> => sendValues(channel, values, false)

/**
 * Closes the channel: sends fail with `Closed` from now on; takers drain what was sent, then end.
 * `false` when it was closed already.
 */
export const close = <A>(channel: Channel<A>): Effect.Effect<boolean> => Effect.sync(() => channel.cells.ring.close())

// ---------------------------------------------------------------------------------------------
// Taking
// ---------------------------------------------------------------------------------------------

/** Takes one value, waiting while the channel is empty; fails with `Cause.Done` once it is closed and drained. */
export const take = <A>(channel: Channel<A>): Effect.Effect<A, Cause.Done> =>
  Effect.map(takeUpTo(channel, 1), (values) => values[0])

/**
 * Takes between 1 and `max` values, as many as are ready, waiting for the first. `max` is a
 * positive integer, or `Infinity` for all that are ready; anything else (0, negative, fractional,
 * `NaN`) dies with a `RangeError` naming the call and `max`.
 */
export const takeUpTo = <A>(channel: Channel<A>, max: number): Effect.Effect<readonly [A, ...Array<A>], Cause.Done> =>
  Effect.suspend(() => {
    const cells = channel.cells
    const limit = limitOf(max, cells.ring.capacity, () => `Channel.takeUpTo(${channel.name}): max`)
    if (limit instanceof RangeError) return Effect.die(limit)
    if (cells instanceof NumericCells) {
      const fresh = cells.take(limit, (length) => new Array<number>(length))
      return Effect.map(taking(channel, fresh.attempt, fresh.adopt), (k) => fresh.result(k) as unknown as readonly [A, ...Array<A>])
    }
    const encoded = cells as EncodedCells<A>
    const into: Array<A> = []
    return Effect.as(
      taking(channel, () => encoded.take(into, limit), (p) => encoded.read(into, p, 1)),
      into as unknown as readonly [A, ...Array<A>]
    )
  })

/**
 * Takes between 1 and `max` numbers as a typed array of the channel's kind (a fresh array of the
 * length taken), waiting for the first: the fast path of numeric channels. `max` as in `takeUpTo`.
 */
export const takeArray = <K extends Kind>(channel: NumericChannel<K>, max: number): Effect.Effect<PlainViews[K], Cause.Done> =>
  Effect.suspend(() => {
    const Ctor = constructors[channel.kind]
    const limit = limitOf(max, channel.cells.ring.capacity, () => `Channel.takeArray(${channel.name}): max`)
    if (limit instanceof RangeError) return Effect.die(limit)
    const fresh = channel.cells.take(limit, (length) => new Ctor(length))
    return Effect.map(taking(channel, fresh.attempt, fresh.adopt), (k) => fresh.result(k) as PlainViews[K])
  })

/**
 * Takes between 1 and `max` values, blocking the thread (`Atomics.wait`) until the first is ready;
 * `undefined` once the channel is closed and drained. `max` as in `takeUpTo`: anything else
 * throws the `RangeError`.
 *
 * **When to use**: in a worker whose handler is one synchronous loop and truly must block (no other
 * fibers to keep running). Everywhere else use `takeUpTo`, which waits without blocking.
 *
 * **Gotchas**: a blocked thread runs nothing else — not its actors, not its timers — until a value
 * comes. Never call it on the caller's main thread.
 */
export const takeBlocking = <A>(channel: Channel<A>, max: number): ReadonlyArray<A> | undefined => {
  const cells = channel.cells
  const limit = limitOf(max, cells.ring.capacity, () => `Channel.takeBlocking(${channel.name}): max`)
  if (limit instanceof RangeError) throw limit
  if (cells instanceof NumericCells) {
    const fresh = cells.take(limit, (length) => new Array<number>(length))
    const k = blockingLoop(cells.ring, "take", fresh.attempt, fresh.adopt)
    return k === Ended ? undefined : (fresh.result(k) as unknown as Array<A>)
  }
  const encoded = cells as EncodedCells<A>
  const into: Array<A> = []
  const k = blockingLoop(cells.ring, "take", () => encoded.take(into, limit), (position) => encoded.read(into, position, 1))
  return k === Ended ? undefined : into
}

/**
 * Sends every value, blocking the thread (`Atomics.wait`) while the channel is full: the blocking
 * form of `sendAll` (see `takeBlocking` for when). Throws the `ChannelError` a `sendAll` would fail with.
 */
export const sendAllBlocking: {
  <K extends Kind>(channel: NumericChannel<K>, values: ArrayLike<number>): void
  <A>(channel: Channel<A>, values: ReadonlyArray<NoInfer<A>>): void
} = (channel: Channel<any>, values: ArrayLike<any>): void => {
  const cells = channel.cells
  let attempt: (from: number) => number
  if (cells instanceof NumericCells) {
    const checked = cells.check(values)
    if ("_tag" in checked) throw refused(channel, checked, values.length, false)
    attempt = (from) => cells.send(checked, from)
  } else {
    const prepared = (cells as EncodedCells<unknown>).prepare(values as ReadonlyArray<unknown>)
    if ("_tag" in prepared) throw refused(channel, prepared, values.length, false)
    attempt = (from) => (cells as EncodedCells<unknown>).send(prepared, from)
  }
  let sent = 0
  let lost = 0
  while (sent < values.length) {
    const k = blockingLoop(cells.ring, "send", () => attempt(sent), () => 0)
    if (k === Ended) {
      throw new ChannelError({
        channel: channel.name,
        reason: new Closed({ message: `the channel closed after ${sent} of ${values.length} values were sent` })
      })
    }
    sent += k
    lost += cells.refused
  }
  if (lost > 0) {
    throw new ChannelError({
      channel: channel.name,
      reason: new Abandoned({ lost, message: `${lost} of ${values.length} values were dropped (claimed past abandonAfter)` })
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/**
 * The values of a channel as a `Stream`, in chunks of up to `chunkSize` (default 256) of what is
 * ready; it ends when the channel is closed and drained. Several streams (in several workers) over
 * one channel share its values: each value goes to one of them. `chunkSize` is a positive integer,
 * or `Infinity` for all that are ready; anything else makes the stream die with a `RangeError`
 * naming it when it runs.
 *
 * **Gotchas**: each pull takes a whole chunk out of the channel. A consumer that stops part-way
 * through one (`Stream.take(n)`, a failure or interruption downstream) drops the rest of it: those
 * values are gone, not left for other takers. Where every value must reach someone, stop only at
 * the channel's end, or take exactly what you use (`chunkSize: 1`, or `takeUpTo`).
 */
export const toStream = <A>(channel: Channel<A>, options?: { readonly chunkSize?: number | undefined }): Stream.Stream<A> => {
  const chunkSize = options?.chunkSize ?? 256
  const refused = limitOf(chunkSize, channel.cells.ring.capacity, () => `Channel.toStream(${channel.name}): chunkSize`)
  return refused instanceof RangeError ? Stream.die(refused) : Stream.fromPull(Effect.succeed(takeUpTo(channel, chunkSize)))
}

/**
 * A `Sink` that sends every element into the channel (a chunk at a time, waiting for room). It
 * does not close the channel: several producers may feed one; close it when they are all done.
 */
export const sink = <A>(channel: Channel<A>): Sink.Sink<void, A, never, ChannelError> =>
  Sink.forEachArray((values: ReadonlyArray<A>) => sendAll(channel, values))

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

/** Values sent and not yet taken (a snapshot: others may be sending and taking). */
export const size = <A>(channel: Channel<A>): number => channel.cells.ring.size

export const isClosed = <A>(channel: Channel<A>): boolean => channel.cells.ring.isClosed

/** Cells abandoned because a worker died holding them (`Ring.ts`, rule 8): their values were lost. */
export const abandoned = <A>(channel: Channel<A>): number => channel.cells.ring.abandoned

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/**
 * `abandonAfter` in ms. `Duration` reads NaN (and a negative number) as zero, which became a 1 ms
 * limit: any sender the GC paused between claim and publish would lose its values.
 */
const abandonMillis = (input: Duration.Input | undefined): number => {
  if (input === undefined) return 5_000
  const millis = durationMillis(input)
  if (!(millis > 0)) {
    throw new RangeError(`Channel.make: abandonAfter must be a duration above 0, got ${String(input)}`)
  }
  return Math.max(1, Math.min(0x3fffffff, millis))
}

/**
 * How many values a take asks for: `max` up to the capacity (no claim takes more; `Infinity` made an
 * array of that length). Anything but a positive integer or `Infinity` is the `RangeError` naming
 * the call and its option (`option`): read as one (or rounded down), `takeUpTo(ch, 0)` and a
 * `chunkSize` of `NaN` or `0.5` took what no one asked for, where the library's other count options
 * refuse such values.
 */
const limitOf = (max: number, capacity: number, option: () => string): number | RangeError =>
  max === Infinity || (Number.isInteger(max) && max >= 1)
    ? Math.min(max, capacity)
    : new RangeError(`${option()} must be a positive integer, or Infinity for all that are ready; got ${String(max)}`)

/** A handle over `buffer` for `element`, checking that the memory holds that kind of element. */
const attach = (element: Element, buffer: SharedArrayBuffer): Channel<any> => {
  const described = describe(buffer)
  if (typeof described === "string") throw new Error(`Channel: ${described}`)
  const ring = new Ring(buffer)
  const name = `${elementName(element)}[${ring.capacity}]`
  if (typeof element === "string") {
    if (kindOfCode(ring.kind) !== element) {
      throw new Error(`Channel: this memory holds ${contentsOfCode(ring.kind)}, not ${element} numbers`)
    }
    return handle(name, ring.capacity, new NumericCells(ring, element as Kind), element) as NumericChannel<Kind>
  }
  // Typed arrays are their bytes: read as another kind, or as JSON (and JSON as arrays), they
  // would be other values, with nothing to say so.
  const code = encodedCodeOf(element as Schema.Top)
  if (ring.kind !== code) throw new Error(`Channel: this memory holds ${contentsOfCode(ring.kind)}, not ${contentsOfCode(code)}`)
  return handle(name, ring.capacity, new EncodedCells(ring, element as Schema.Top), undefined)
}

/**
 * A handle: its name, capacity and kind as own fields, its cells hidden (not enumerable), so an
 * error's rendering of a payload shows `Channel { name: 'Job[64]', capacity: 64 }`, not the ring's
 * memory and codecs.
 */
const handle = (
  name: string,
  capacity: number,
  cells: NumericCells | EncodedCells<any>,
  kind: Kind | undefined
): Channel<any> => {
  const channel = Object.create(HandleProto) as { name: string; capacity: number; kind?: Kind }
  channel.name = name
  channel.capacity = capacity
  if (kind !== undefined) channel.kind = kind
  Object.defineProperty(channel, "cells", { value: cells })
  return channel as unknown as Channel<any>
}

const HandleProto: object = Object.defineProperty((class Channel {}).prototype, TypeId, { value: TypeId })

const sameElement = (channel: Channel<any>, element: Element): boolean =>
  typeof element === "string"
    ? (channel as NumericChannel<Kind>).kind === element
    : channel.cells instanceof EncodedCells && channel.cells.schema === element

/**
 * Why `channel` is not a channel of `element`: both elements named, and, when the names are the
 * same, that the channel was made with another Schema object (a struct declared twice), which the
 * handle cannot be checked against.
 */
const otherElement = (channel: Channel<any>, element: Element): string => {
  const cells = channel.cells
  const given = cells instanceof NumericCells ? cells.kind : elementName(cells.schema as Schema.Top)
  const expected = elementName(element)
  if (given !== expected) return `Expected a channel of ${expected}, got a channel of ${given}`
  return `Expected a channel of ${expected}, got a channel of ${given} made with another Schema object: ` +
    `make the channel with the Schema the payload declares (Channel.make(X, …) for Channel.schema(X), the same X)`
}

const elementName = (element: Element): string => {
  if (typeof element === "string") return element
  const array = arrayElementOf(element)
  if (array !== undefined) return `${array.kind}Array`
  const identifier = (element.ast.annotations as { readonly identifier?: unknown } | undefined)?.identifier
  return typeof identifier === "string" ? identifier : "values"
}

/**
 * `send` (`single`) and `sendAll`: every value checked (and encoded) before the first is sent. The
 * cells index each refusal by its value in `values`: `single` drops that index, a batch of one
 * being `send`'s way in, not the caller's.
 */
const sendValues = (channel: Channel<any>, values: ArrayLike<any>, single: boolean): Effect.Effect<void, ChannelError> =>
  Effect.suspend(() => {
    const cells = channel.cells
    const count = values.length
    if (cells instanceof NumericCells) {
      const checked = cells.check(values)
      if ("_tag" in checked) return Effect.fail(refused(channel, checked, values.length, single))
      return sending(channel, count, (from) => cells.send(checked, from), () => cells.refused)
    }
    const prepared = (cells as EncodedCells<unknown>).prepare(values as ReadonlyArray<unknown>)
    if ("_tag" in prepared) return Effect.fail(refused(channel, prepared, values.length, single))
    return sending(channel, count, (from) => (cells as EncodedCells<unknown>).send(prepared, from), () => cells.refused)
  })

/**
 * Why a send of `count` values was refused. A too large value's message names the `slotBytes` that
 * would hold it, since that is the fix, and an index only when there were several values. An
 * invalid value's path starts with its index, but for a `single` send (`send`: the value itself).
 */
const refused = (channel: Channel<any>, refusal: Refusal, count: number, single: boolean): ChannelError =>
  new ChannelError({
    channel: channel.name,
    reason: refusal._tag === "Invalid"
      ? new ValueInvalid({ path: single ? refusal.issue.path.slice(1) : refusal.issue.path, message: refusal.issue.message })
      : new TooLarge({
        bytes: refusal.bytes,
        slotBytes: channel.cells.ring.slotBytes,
        message: `${count === 1 ? "the value" : `value ${refusal.index}`} encodes to ${refusal.bytes} bytes ` +
          `(its 4-byte length included); a slot holds ${channel.cells.ring.slotBytes}: ` +
          `make the channel with slotBytes: ${refusal.bytes} or more`
      })
  })

/**
 * The wait loop of rules 7–8 with `Atomics.wait`: returns the first non-zero result of `attempt`
 * (a count, or `Ended` / `Closed`).
 */
const blockingLoop = (
  ring: Ring,
  side: "send" | "take",
  attempt: () => number,
  adopt: (position: number) => number
): number => {
  let sighting: Sighting | undefined
  for (;;) {
    const first = attempt()
    if (first !== 0) return first
    const seen = ring.announce(side)
    try {
      const again = attempt()
      if (again !== 0) return again
      if (sighting !== undefined) {
        const result = ring.abandon(sighting, graceMillis)
        sighting = undefined
        if (result.adopted) {
          const k = adopt(ring.claimed)
          if (k > 0) return k
        }
        if (result.abandoned > 0 || result.adopted) continue
      }
      if (simulatedStep.running) {
        throw new Error(
          `Channel.${side === "take" ? "takeBlocking" : "sendAllBlocking"} cannot wait in a simulation: it would block the ` +
            "one thread every simulated worker shares, and nothing could wake it; use Channel.take / Channel.sendAll"
        )
      }
      sighting = ring.sight(side)
      ring.waitSync(side, seen, sighting !== undefined ? graceMillis : Math.min(idleSliceMillis, ring.abandonAfter))
    } finally {
      ring.withdraw(side)
    }
  }
}

/** A wait slice when nothing is stuck: waits are re-checked this often (rule 8 needs a clock). */
const idleSliceMillis = 250
/** The pause between two sightings of stuck cells (rule 8). */
const graceMillis = 20

/**
 * Runs `attempt` (a send of `values[from…]`) until every value is sent, waiting for room between
 * tries (rules 7–8).
 */
const sending = (
  channel: Channel<any>,
  count: number,
  attempt: (from: number) => number,
  refusedOfLast: () => number
): Effect.Effect<void, ChannelError> => {
  let sent = 0
  let lost = 0
  const step = (): Exit.Exit<void, ChannelError> | undefined => {
    while (sent < count) {
      const k = attempt(sent)
      if (k === Ended) {
        return Exit.fail(
          new ChannelError({
            channel: channel.name,
            reason: new Closed({
              message: count === 1 ? "the channel is closed" : `the channel closed after ${sent} of ${count} values were sent`
            })
          })
        )
      }
      if (k === 0) return undefined
      sent += k
      lost += refusedOfLast()
    }
    return lost === 0 ? Exit.void : Exit.fail(
      new ChannelError({
        channel: channel.name,
        reason: new Abandoned({
          lost,
          message: `${lost} of ${count} values were claimed but not published within the channel's abandonAfter, and were dropped`
        })
      })
    )
  }
  return waiting(channel.cells.ring, "send", step, () => undefined)
}

/**
 * Runs a take (`attempt`: how many it took, 0, or `Ended`) until it yields values or the end
 * (rules 6–8); `readAdopted` reads the one position a take-side abandon found published after all.
 */
const taking = (
  channel: Channel<any>,
  attempt: () => number,
  readAdopted: (position: number) => number
): Effect.Effect<number, Cause.Done> => {
  const exitOf = (k: number): Exit.Exit<number, Cause.Done> | undefined =>
    k > 0 ? Exit.succeed(k) : k === Ended ? doneExit : undefined
  return waiting(channel.cells.ring, "take", () => exitOf(attempt()), () => exitOf(readAdopted(channel.cells.ring.claimed)))
}

const doneExit: Exit.Exit<never, Cause.Done> = Exit.fail(Cause.Done())

/**
 * The wait loop of rule 7, with rule 8's sightings: try; announce; try again; wait on the event
 * word (without blocking the thread) or, with cells stuck past `abandonAfter`, look again after a
 * grace and abandon them. `adopt` reads a position a take-side abandon found published after all.
 */
const waiting = <A, E>(
  ring: Ring,
  side: "send" | "take",
  step: () => Exit.Exit<A, E> | undefined,
  adopt: () => Exit.Exit<A, E> | undefined
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const first = step()
    if (first !== undefined) return first
    return Effect.flatMap(CurrentWaits, (waits) => waitFor(ring, side, step, adopt, waits))
  })

const waitFor = <A, E>(
  ring: Ring,
  side: "send" | "take",
  step: () => Exit.Exit<A, E> | undefined,
  adopt: () => Exit.Exit<A, E> | undefined,
  waits: Waits
): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    let cancelled = false
    let sighting: Sighting | undefined
    /** The `waitAsync` this waiter is announced for, while one is pending. */
    let waitingOn: Promise<unknown> | undefined
    // `step` and `adopt` may throw (a value its Schema does not decode): the wait ends with that
    // defect. Thrown from the `waitAsync` callback, it was an unhandled rejection, and the fiber
    // never resumed.
    const attempt = (f: () => Exit.Exit<A, E> | undefined): Exit.Exit<A, E> | undefined => {
      try {
        return f()
      } catch (error) {
        return Exit.die(error)
      }
    }
    const loop = (): void => {
      while (!cancelled) {
        const seen = ring.announce(side)
        const done = attempt(step)
        if (done !== undefined) {
          ring.withdraw(side)
          return resume(done)
        }
        if (sighting !== undefined) {
          const result = ring.abandon(sighting, graceMillis)
          sighting = undefined
          const adopted = result.adopted ? attempt(adopt) : undefined
          if (adopted !== undefined) {
            ring.withdraw(side)
            return resume(adopted)
          }
          if (result.abandoned > 0 || result.adopted) {
            ring.withdraw(side)
            continue
          }
        }
        sighting = ring.sight(side)
        const wait = ring.waitAsync(side, seen, sighting !== undefined ? graceMillis : Math.min(idleSliceMillis, ring.abandonAfter), waits)
        if (wait === undefined) {
          ring.withdraw(side)
          continue
        }
        waitingOn = wait
        wait.then(() => {
          // Interrupted meanwhile: the interruption withdrew the announcement already.
          if (waitingOn !== wait) return
          waitingOn = undefined
          ring.withdraw(side)
          loop()
        })
        return
      }
    }
    loop()
    return Effect.sync(() => {
      cancelled = true
      // Withdrawn now, not when the pending wait times out (up to `idleSliceMillis`): until then
      // every send or take would notify a waiter that is gone (rule 9's cost, for nothing).
      if (waitingOn !== undefined) {
        waitingOn = undefined
        ring.withdraw(side)
      }
    })
  })
