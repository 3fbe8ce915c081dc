import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  makeDocuments,
  MapPrefixCount,
  serialPrefixCount,
  StreamingPrefixCount,
  unionPopular,
  WORD_LENGTH,
  wordsOf
} from "../../src/workloads/prefixCount.ts"

/** The post's Python, transcribed literally (the `map` counter): the oracle for the radix tree. */
class NaivePrefixCount {
  readonly #counter = new MapPrefixCount()
  get counts(): ReadonlyMap<string, number> {
    return this.#counter.counts
  }
  get popular(): Set<string> {
    return this.#counter.popular()
  }
  add(words: ReadonlyArray<string>): void {
    this.#counter.add(words)
  }
}

const sorted = (set: Iterable<string>): Array<string> => [...set].sort()

/** A flat document from 20-character words given by a distinct head, padded with `z`. */
const flat = (...words: ReadonlyArray<string>): string => words.map((word) => word.padEnd(WORD_LENGTH, "z")).join("")

describe("StreamingPrefixCount", () => {
  it("counts proper prefixes only and marks those counted more than 3 times", () => {
    const counter = new StreamingPrefixCount()
    counter.add(["abcd", "abce", "abcf", "abcg", "abxy"])
    // a: 5, ab: 5, abc: 4, abx: 1; the whole words are never counted.
    assert.strictEqual(counter.count("a"), 5)
    assert.strictEqual(counter.count("ab"), 5)
    assert.strictEqual(counter.count("abc"), 4)
    assert.strictEqual(counter.count("abx"), 1)
    assert.strictEqual(counter.count("abcd"), 0)
    assert.strictEqual(counter.count("q"), 0)
    assert.deepStrictEqual(sorted(counter.popular()), ["a", "ab", "abc"])
    assert.strictEqual(counter.size, 4)
  })

  it("counts a prefix that ends inside a merged edge, and cuts the edge where a word leaves it", () => {
    const counter = new StreamingPrefixCount()
    counter.add(["abcdef"]) // one edge: a .. abcde, each counted once
    assert.strictEqual(counter.count("abc"), 1)
    assert.strictEqual(counter.count("abd"), 0)
    counter.add(["abxy", "ab"]) // leaves the edge after "ab"; "ab" ends inside it
    assert.deepStrictEqual(["a", "ab", "abc", "abcde", "abx"].map((p) => counter.count(p)), [3, 2, 1, 1, 1])
    assert.strictEqual(counter.size, 6)
  })

  it("does not mark a prefix counted exactly 3 times", () => {
    const counter = new StreamingPrefixCount()
    counter.add(["xyz1", "xyz2", "xyz3", "x"])
    // x: 3 (a one-letter word has no proper prefix), xy: 3, xyz: 3.
    assert.strictEqual(counter.count("x"), 3)
    assert.deepStrictEqual(sorted(counter.popular()), [])
  })

  it("streams: a prefix becomes popular in the document that takes it past 3", () => {
    const counter = new StreamingPrefixCount()
    counter.add(flat("hello", "help", "hero"))
    // h and he have 3; hel 2.
    assert.deepStrictEqual(sorted(counter.popular()), [])
    counter.add(flat("hex"))
    assert.deepStrictEqual(sorted(counter.popular()), ["h", "he"])
    counter.add(flat("helm", "helix"))
    assert.deepStrictEqual(sorted(counter.popular()), ["h", "he", "hel"])
  })

  it("reads a flat document as WORD_LENGTH-character words, prefixes of length 1..19", () => {
    const word = "abcdefghijklmnopqrst"
    const counter = new StreamingPrefixCount()
    counter.add(word.repeat(4))
    const expected = Array.from({ length: WORD_LENGTH - 1 }, (_, i) => word.slice(0, i + 1))
    assert.deepStrictEqual(sorted(counter.popular()), sorted(expected))
    assert.strictEqual(counter.count(word.slice(0, 19)), 4)
    assert.strictEqual(counter.count(word), 0)
    assert.throws(() => counter.add("abc"), RangeError)
  })

  it("agrees with the literal transcription on generated documents (past several table growths)", () => {
    const documents = makeDocuments(3, 2_000, 11)
    const counter = new StreamingPrefixCount()
    const naive = new NaivePrefixCount()
    for (const document of documents) {
      counter.add(document)
      naive.add(wordsOf(document))
      assert.deepStrictEqual(sorted(counter.popular()), sorted(naive.popular))
    }
    assert.strictEqual(counter.size, naive.counts.size)
    for (const [prefix, count] of naive.counts) {
      if (prefix.length <= 3) assert.strictEqual(counter.count(prefix), count, prefix)
    }
  })

  it("agrees with the literal transcription on arbitrary words over a small alphabet", () => {
    const words = fc.array(fc.string({ unit: fc.constantFrom("a", "b", "é", "\u{1F600}"), maxLength: 6 }), { maxLength: 40 })
    fc.assert(
      fc.property(fc.array(words, { maxLength: 5 }), (documents) => {
        const counter = new StreamingPrefixCount()
        const naive = new NaivePrefixCount()
        for (const document of documents) {
          counter.add(document)
          naive.add(document)
        }
        assert.deepStrictEqual(sorted(counter.popular()), sorted(naive.popular))
        for (const [prefix, count] of naive.counts) assert.strictEqual(counter.count(prefix), count)
      }),
      { seed: 20_240_611, numRuns: 200 }
    )
  })
})

describe("serialPrefixCount", () => {
  it("deals documents round-robin to the counters and unions their popular sets", () => {
    const x = ["xaaa", "xaab"] // adds xa: 2, xaa: 2 (and x: 2)
    const y = ["ybbb", "ybbc"]
    const documents = [x, y, x, y]
    // Round-robin over 2 counters: counter 0 gets x, x (x, xa, xaa reach 4); counter 1 gets y, y.
    assert.deepStrictEqual(sorted(serialPrefixCount(documents, 2)), ["x", "xa", "xaa", "y", "yb", "ybb"])
    // Contiguous halves would have given each counter x, y: nothing past 3. Three counters: at most 2 of each.
    assert.deepStrictEqual(sorted(serialPrefixCount(documents, 3)), [])
    assert.deepStrictEqual(sorted(serialPrefixCount(documents, 1)), ["x", "xa", "xaa", "y", "yb", "ybb"])
  })

  it("equals the union of hand-fed counters on generated documents", () => {
    const documents = makeDocuments(6, 1_000, 3)
    const counters = [new NaivePrefixCount(), new NaivePrefixCount(), new NaivePrefixCount()]
    documents.forEach((document, i) => counters[i % 3]!.add(wordsOf(document)))
    const expected = unionPopular(counters.map((counter) => counter.popular))
    assert.isAbove(expected.size, 0)
    assert.deepStrictEqual(sorted(serialPrefixCount(documents, 3)), sorted(expected))
  })

  it("gives the same popular set with either counter shape", () => {
    const documents = makeDocuments(4, 1_000, 5)
    assert.deepStrictEqual(sorted(serialPrefixCount(documents, 2, "map")), sorted(serialPrefixCount(documents, 2, "radix")))
  })

  it("rejects a non-positive number of counters", () => {
    assert.throws(() => serialPrefixCount([], 0), RangeError)
  })
})

describe("makeDocuments", () => {
  it("makes flat documents of lowercase 20-letter words, deterministically", () => {
    const documents = makeDocuments(3, 50, 5)
    assert.strictEqual(documents.length, 3)
    for (const document of documents) {
      assert.strictEqual(document.length, 50 * WORD_LENGTH)
      assert.match(document, /^[a-z]+$/)
      assert.strictEqual(wordsOf(document).length, 50)
    }
    assert.deepStrictEqual(makeDocuments(3, 50, 5), documents)
    assert.notDeepEqual(makeDocuments(3, 50, 6), documents)
    // Document i does not depend on how many come after it.
    assert.deepStrictEqual(makeDocuments(2, 50, 5), documents.slice(0, 2))
    assert.strictEqual(makeDocuments(1)[0]!.length, 10_000 * WORD_LENGTH)
  })
})
