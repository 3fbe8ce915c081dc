/**
 * The codec's fast path: a payload whose Schema cannot transform crosses as it is (the worker's
 * decode validates it), one that can is encoded by the caller.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "../../../src/index.ts"
import { MessageChannel } from "node:worker_threads"
import { cloneIssue, codecOf } from "../../../src/runtime/protocol/codec.ts"

const matrix = { rows: 1, cols: 2, data: new Float64Array(new SharedArrayBuffer(16)) }

describe("codec", () => {
  it("sends shared arrays, matrices and checked structs as they are", () => {
    const task = Task.make("Plain", {
      payload: {
        image: SharedArray.Float64Matrix,
        out: SharedArray.matrix("Float64", { memory: "output" }),
        filter: SharedArray.matrix("Float64", { memory: "copied" }),
        scale: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
        tags: Schema.Array(Schema.String)
      }
    })
    const payload = { image: matrix, out: matrix, filter: { rows: 1, cols: 1, data: new Float64Array(1) }, scale: 2, tags: ["a"] }
    assert.strictEqual(codecOf(task).encodePayload(payload).value, payload)
  })

  it("copies shared arrays in copied places into plain buffers, and leaves a payload of plain ones as it is", () => {
    const Copied = SharedArray.array("Float64", { memory: "copied" })
    const task = Task.make("Copies", {
      payload: {
        list: Schema.Array(Copied),
        pair: Schema.Tuple([Schema.String, Copied]),
        either: Schema.Union([Schema.Number, Copied]),
        byName: Schema.Record(Schema.String, Copied),
        matrix: SharedArray.matrix("Float64", { memory: "copied" }),
        shared: SharedArray.Float64
      },
      success: Copied
    })
    const plain = {
      list: [new Float64Array(1)],
      pair: ["x", new Float64Array(1)] as const,
      either: new Float64Array(1),
      byName: { a: new Float64Array(1) },
      matrix: { rows: 1, cols: 1, data: new Float64Array(1) },
      shared: new Float64Array(new SharedArrayBuffer(8))
    }
    assert.strictEqual(codecOf(task).encodePayload(plain).value, plain, "nothing copied, nothing rebuilt")
    const shared = () => new Float64Array(new SharedArrayBuffer(16)).fill(7)
    const payload = {
      list: [new Float64Array(1), shared()],
      pair: ["x", shared()] as const,
      either: shared(),
      byName: { a: shared() },
      matrix: { rows: 1, cols: 2, data: shared() },
      shared: plain.shared
    }
    const sent = codecOf(task).encodePayload(payload).value as typeof payload
    for (const array of [sent.list[1]!, sent.pair[1], sent.either, sent.byName.a!, sent.matrix.data]) {
      assert.instanceOf(array.buffer, ArrayBuffer)
      assert.deepStrictEqual(Array.from(array), [7, 7])
    }
    assert.strictEqual(sent.list[0], payload.list[0], "a plain array is sent as it is")
    assert.strictEqual(sent.shared, payload.shared, "a declared shared array is shared")
    assert.instanceOf(payload.either.buffer, SharedArrayBuffer, "the sender's value is left as it was")
    // A union takes its first member that accepts the value: a shared member first keeps it shared.
    const first = Task.make("SharedFirst", { payload: Schema.Union([SharedArray.Float64, Copied]) })
    const then = Task.make("CopiedFirst", { payload: Schema.Union([Copied, SharedArray.Float64]) })
    const array = shared()
    assert.strictEqual(codecOf(first).encodePayload(array).value, array)
    assert.instanceOf((codecOf(then).encodePayload(array).value as Float64Array).buffer, ArrayBuffer)
    const part = shared().subarray(1)
    const result = codecOf(task).encodeSuccess(part).value as Float64Array
    assert.instanceOf(result.buffer, ArrayBuffer)
    assert.strictEqual(result.length, 1)
  })

  it("derives a transfer list from the Schema's moved arrays only, and none when it moves nothing", () => {
    const Moved = SharedArray.array("Float64", { memory: "moved" })
    const plain = Task.make("NoMoves", { payload: { values: SharedArray.array("Float64", { memory: "copied" }), n: Schema.Int } })
    assert.isUndefined(codecOf(plain).payloadTransfers, "no walk at all for a Schema that moves nothing")
    assert.isUndefined(codecOf(plain).successTransfers)
    const task = Task.make("Moves", {
      payload: {
        list: Schema.Array(Moved),
        pair: Schema.Tuple([Schema.String, Moved]),
        either: Schema.Union([Schema.Number, Moved]),
        maybe: Schema.optional(Moved),
        copied: SharedArray.array("Float64", { memory: "copied" })
      },
      success: Schema.Struct({ out: Moved })
    })
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => new Float64Array(n))
    const whole = new Float64Array(8)
    const payload = {
      list: [a!, b!, whole.subarray(0, 2), whole.subarray(2)],
      pair: ["x", c!] as const,
      either: d!,
      copied: new Float64Array(1)
    }
    const moved = codecOf(task).payloadTransfers!(payload)
    assert.deepStrictEqual(moved.list, [a!.buffer, b!.buffer, whole.buffer, c!.buffer, d!.buffer], "each buffer once, copied ones left out")
    assert.deepStrictEqual(codecOf(task).successTransfers!({ out: a! }).list, [a!.buffer])
    // An array moved away already: the issue names where it is.
    structuredClone(b!, { transfer: [b!.buffer] })
    const issue = codecOf(task).payloadTransfers!(payload).issue
    assert.deepStrictEqual(issue?.path, ["list", 1])
    assert.match(issue!.message, /moved away already/)
    // Shared memory is refused where it would be moved (a channel that copies would let it through),
    // and left alone in a copied field.
    const shared = new Float64Array(new SharedArrayBuffer(8))
    const refused = codecOf(task).payloadTransfers!({ list: [shared], pair: ["y", shared], either: 1, copied: shared })
    assert.deepStrictEqual(refused.issue?.path, ["list", 0])
    assert.match(refused.issue!.message, /shared memory cannot be moved/)
    assert.deepStrictEqual(codecOf(task).payloadTransfers!({ list: [], pair: ["y", new Float64Array(1)], either: 1, copied: shared }).issue, undefined)
  })

  it("names an Int32Array with \"an\" in its messages, a Float64Array or a Uint8Array with \"a\"", () => {
    for (const memory of ["shared", "copied", "moved"] as const) {
      const decoded = Schema.decodeUnknownExit(SharedArray.array("Int32", { memory }))("x")
      assert.match(String(decoded), /Expected an Int32Array\b/, memory)
      assert.match(String(Schema.decodeUnknownExit(SharedArray.array("Uint8", { memory }))("x")), /Expected a Uint8Array\b/, memory)
    }
    const task = Task.make("MovesInts", { payload: { ints: SharedArray.array("Int32", { memory: "moved" }) } })
    const shared = new Int32Array(new SharedArrayBuffer(4))
    assert.match(codecOf(task).payloadTransfers!({ ints: shared }).issue!.message, /^an Int32Array over a SharedArrayBuffer/)
    const moved = new Int32Array(1)
    structuredClone(moved.buffer, { transfer: [moved.buffer] })
    assert.match(codecOf(task).payloadTransfers!({ ints: moved }).issue!.message, /^an Int32Array that was moved away/)
  })

  it("encodes payloads whose Schema transforms, or declares a type it cannot see through", () => {
    const shifted = Task.make("Shifted", { payload: { at: Schema.DateFromString, image: SharedArray.Float64Matrix } })
    const encoded = codecOf(shifted).encodePayload({ at: new Date(0), image: matrix }).value as { at: unknown }
    assert.strictEqual(encoded.at, new Date(0).toISOString())
    const dated = Task.make("Dated", { payload: { at: Schema.Date } })
    const payload = { at: new Date(0) }
    assert.notStrictEqual(codecOf(dated).encodePayload(payload).value, payload)
  })

  it.effect("encoding a released shared matrix fails with its own message, not a generic one", () =>
    Effect.gen(function*() {
      // The matrix's `data` accessor throws while the Schema reads it: a defect, not a Schema issue.
      const image = yield* Effect.scoped(SharedArray.makeMatrix("Float64", 2, 2))
      const shifted = Task.make("ShiftedReleased", { payload: { at: Schema.DateFromString, image: SharedArray.Float64Matrix } })
      const coded = codecOf(shifted).encodePayload({ at: new Date(0), image })
      assert.match(coded.issue?.message ?? "", /2×2 matrix was released/)
    }).pipe(Effect.provide(SharedArray.layerArena())))

  it("names where a value the structured clone cannot take is", () => {
    // The path of the first thing `structuredClone` rejects, in the order it walks.
    const pathOf = (value: unknown) => {
      let error: unknown
      try {
        structuredClone(value)
      } catch (cause) {
        error = cause
      }
      assert.isDefined(error, "the clone must fail for the case to mean anything")
      return cloneIssue(value, error).path
    }
    const { port1, port2 } = new MessageChannel()
    try {
      assert.deepStrictEqual(pathOf({ a: 1, f: () => 1 }), ["f"])
      assert.deepStrictEqual(pathOf({ list: [0, 1, Symbol("s")] }), ["list", 2])
      // Was []: a proxy whose traps all work looks like a plain object to a walk.
      assert.deepStrictEqual(pathOf({ a: { p: new Proxy({}, {}) } }), ["a", "p"])
      // Was the first getter's path, whatever it returned.
      const getters = Object.defineProperties({}, {
        fine: { enumerable: true, get: () => 1 },
        bad: { enumerable: true, get: () => () => 1 }
      })
      assert.deepStrictEqual(pathOf({ getters }), ["getters", "bad"])
      assert.deepStrictEqual(pathOf({ port: port1 }), ["port"])
      assert.deepStrictEqual(pathOf({ byKey: new Map([["k", () => 1]]) }), ["byKey", 0, 1])
      assert.deepStrictEqual(pathOf({ pending: Promise.resolve(1) }), ["pending"])
      const message = cloneIssue({ f: () => 1 }, new DOMException("could not be cloned", "DataCloneError")).message
      assert.strictEqual(message, "cannot be sent to a worker (DataCloneError: could not be cloned)")
    } finally {
      port1.close()
      port2.close()
    }
  })

  it("a payload the Schema cannot even inspect is an issue, never an exception; issues stay short", () => {
    const shifted = Task.make("ShiftedHostile", { payload: { at: Schema.DateFromString } })
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    // Was: the parser's own Array.isArray threw out of encodeUnknownExit, and Task.run died.
    const revoked = codecOf(shifted).encodePayload(proxy)
    assert.isDefined(revoked.issue)
    assert.match(revoked.issue!.message, /could not be processed: TypeError.*revoked/)
    // Was: a throwing getter's message, whole, in the PayloadInvalid (and so in TaskError.message).
    const loud = Object.defineProperty({}, "at", {
      enumerable: true,
      get: () => {
        throw new Error("!".repeat(1_000_000))
      }
    })
    const issue = codecOf(shifted).encodePayload(loud).issue
    assert.isDefined(issue)
    assert.isAtMost(issue!.message.length, 300)
    assert.isAtMost(cloneIssue({}, new Error("?".repeat(1_000_000))).message.length, 400)
  })

  it("a value the compiled parser cannot inspect (a throwing getter, a revoked proxy) is an issue, never an exception", () => {
    // Identity Schemas take the compiled parser on the worker's side (a handler's result, a payload):
    // it threw out of encodeSuccess, so the result of one task killed its worker instead of failing alone.
    const task = Task.make("IdentityHostile", { payload: { a: Schema.Number }, success: Schema.Struct({ x: Schema.Number }) })
    const codec = codecOf(task)
    const throwing = Object.defineProperty({}, "x", {
      enumerable: true,
      get: () => {
        throw new Error("boom")
      }
    })
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    for (const value of [throwing, proxy]) {
      const encoded = codec.encodeSuccess(value)
      assert.isDefined(encoded.issue)
      assert.isDefined(codec.decodePayload({ a: value }).issue)
    }
    assert.match(codec.encodeSuccess(throwing).issue!.message, /boom/)
  })

  it("a moved member of a union lists only arrays of its own kind: another member's array is neither moved nor refused", () => {
    // Was: the moved Float64 member listed any typed array, so a Float32Array the union takes as
    // copied was detached from its caller, and a shared Float32Array failed as 'cannot be moved'.
    const Moved = SharedArray.array("Float64", { memory: "moved" })
    const copied = Task.make("MovedOrCopied", { payload: { v: Schema.Union([Moved, SharedArray.array("Float32", { memory: "copied" })]) } })
    const shared = Task.make("MovedOrShared", { payload: { v: Schema.Union([Moved, SharedArray.array("Float32")]) } })
    assert.deepStrictEqual(codecOf(copied).payloadTransfers!({ v: new Float32Array(4) }), { list: [], issue: undefined })
    assert.deepStrictEqual(codecOf(shared).payloadTransfers!({ v: new Float32Array(new SharedArrayBuffer(16)) }), { list: [], issue: undefined })
    const f64 = new Float64Array(2)
    assert.deepStrictEqual(codecOf(copied).payloadTransfers!({ v: f64 }).list, [f64.buffer])
  })
})
