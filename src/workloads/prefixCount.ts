/**
 * The stateful workload of Ray's "10x faster than Python multiprocessing"
 * post: a streaming count of word prefixes that remembers the popular ones.
 *
 * Contains the document model (`Document`, `makeDocuments`), the per-worker
 * state in two shapes (`StreamingPrefixCount`, a compact radix tree, and
 * `MapPrefixCount`, the post's own dict of prefix strings: a large live heap
 * of small objects) and the single-thread baseline (`serialPrefixCount`) that
 * the parallel versions are measured against.
 *
 * The post's Python, which `StreamingPrefixCount.add` reproduces:
 *
 * ```python
 * for word in document:
 *     for i in range(1, len(word)):
 *         prefix = word[:i]
 *         self.prefix_count[prefix] += 1
 *         if self.prefix_count[prefix] > 3:
 *             self.popular_prefixes.add(prefix)
 * ```
 */
import { below, mulberry32 } from "./internal/random.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** Length of every generated word, as in the post. */
export const WORD_LENGTH = 20

/** A prefix is popular once its count exceeds this value (`count > 3`). */
export const POPULAR_THRESHOLD = 3

/**
 * One document: its words concatenated, each exactly `WORD_LENGTH` characters.
 *
 * When to use: this is what workers receive. A flat string is one
 * allocation, is copied by `postMessage` as a single memcpy (no per-word
 * objects for structured clone to walk), and is sliced into words by offset,
 * so no word strings are ever created.
 *
 * Gotchas: the length must be a multiple of `WORD_LENGTH`; `wordsOf` turns a
 * document back into an array when a test wants to look at the words.
 */
export type Document = string

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Generates `count` documents of `wordsPerDocument` random words of
 * `WORD_LENGTH` lowercase ASCII letters.
 *
 * Details: drawn from one mulberry32 stream, so the same arguments give the
 * same documents on every thread; document `i` does not depend on `count`.
 */
export const makeDocuments = (count: number, wordsPerDocument: number = 10_000, seed: number = 1): Array<Document> => {
  const next = mulberry32(seed)
  const decoder = new TextDecoder()
  const documents: Array<Document> = []
  const bytes = new Uint8Array(wordsPerDocument * WORD_LENGTH)
  for (let d = 0; d < count; d++) {
    for (let i = 0; i < bytes.length; i++) bytes[i] = 97 + below(next(), 26)
    documents.push(decoder.decode(bytes))
  }
  return documents
}

/** Splits a flat document into its `WORD_LENGTH`-character words. */
export const wordsOf = (document: Document): Array<string> => {
  checkDocument(document)
  const words: Array<string> = []
  for (let start = 0; start < document.length; start += WORD_LENGTH) {
    words.push(document.slice(start, start + WORD_LENGTH))
  }
  return words
}

/** What a counter does, whatever its shape. */
export interface PrefixCount {
  add(document: Document | ReadonlyArray<string>): void
  count(prefix: string): number
  popular(): Set<string>
  readonly size: number
}

/** The counter shapes: `radix` (`StreamingPrefixCount`), `map` (`MapPrefixCount`). */
export type CounterKind = "radix" | "map"

export const makePrefixCount = (kind: CounterKind = "radix"): PrefixCount =>
  kind === "map" ? new MapPrefixCount() : new StreamingPrefixCount()

/**
 * The post's counter as its Python has it: a `Map` from every prefix string to
 * its count, and a `Set` of the popular ones. A word of 20 letters makes 19
 * prefix strings, so 100,000 words keep ~1.9 M small strings and map entries
 * alive: a few hundred MB of heap per counter, the shape that tests a worker's
 * garbage collector (the radix tree keeps a few typed arrays instead).
 */
export class MapPrefixCount implements PrefixCount {
  readonly #counts = new Map<string, number>()
  readonly #popular = new Set<string>()

  add(document: Document | ReadonlyArray<string>): void {
    const words = typeof document === "string" ? wordsOf(document) : document
    for (const word of words) {
      for (let i = 1; i < word.length; i++) {
        const prefix = word.slice(0, i)
        const count = (this.#counts.get(prefix) ?? 0) + 1
        this.#counts.set(prefix, count)
        if (count > POPULAR_THRESHOLD) this.#popular.add(prefix)
      }
    }
  }

  count(prefix: string): number {
    return this.#counts.get(prefix) ?? 0
  }

  popular(): Set<string> {
    return new Set(this.#popular)
  }

  get size(): number {
    return this.#counts.size
  }

  /** Every prefix counted so far, with its count. */
  get counts(): ReadonlyMap<string, number> {
    return this.#counts
  }
}

/**
 * The post's `StreamingPrefixCount` actor state: counts every proper prefix
 * (`word[:i]` for `i` in `1..len(word)-1`) of every word added, and records a
 * prefix as popular once its count goes past `POPULAR_THRESHOLD`.
 *
 * Details: the counts live in a radix tree (a trie whose chains of one-child
 * nodes are merged into one edge). Every prefix along an edge has been
 * counted the same number of times, since every word that reaches an edge's
 * first character runs on to its last one, so one count per edge is exact.
 * Random words share only their first few characters, so a word costs a few
 * hash lookups and one new leaf holding its remaining characters, instead of
 * one node per prefix. Measured on 10 documents of 10,000 words (1.6 M
 * distinct prefixes) in one counter: 29 ms and ~7 MB, against 244 ms and
 * ~38 MB for a trie with a node per prefix (whose lookups missed the cache at
 * almost every step, and two of which outgrew the last-level cache two cores
 * share). Child links are an open-addressing hash table keyed by
 * `(parent, first character)`. Strings are made only for popular prefixes,
 * when `popular()` is called.
 *
 * Gotchas: state only grows, by about 50-75 bytes per distinct word of 20
 * letters.
 */
export class StreamingPrefixCount implements PrefixCount {
  /** Node arrays; node 0 is the root (the empty prefix). A node is the edge from its parent. */
  #parent = new Int32Array(INITIAL_NODES)
  /** Where the edge's characters start in `#chars`, and how many there are. */
  #start = new Int32Array(INITIAL_NODES)
  #length = new Int32Array(INITIAL_NODES)
  /** The edge's first character, kept apart so that probing the table stays off `#chars`. */
  #first = new Uint16Array(INITIAL_NODES)
  /** How many times every prefix along the edge has been counted. */
  #count = new Int32Array(INITIAL_NODES)
  #nodes = 1
  /** Every edge's characters (UTF-16 code units); an edge split in two keeps its range, cut in two. */
  #chars = new Uint16Array(INITIAL_NODES * 8)
  #charsUsed = 0
  /** Child links: slot -> node id, `-1` when empty; load factor at most 1/2. */
  #table = new Int32Array(INITIAL_NODES * 2).fill(-1)

  /**
   * Counts the prefixes of every word of `document`: a flat `Document`, or an
   * array of words of any length (each contributes its `length - 1` proper
   * prefixes, as in the Python).
   */
  add(document: Document | ReadonlyArray<string>): void {
    if (typeof document === "string") {
      checkDocument(document)
      for (let start = 0; start < document.length; start += WORD_LENGTH) {
        this.#addWord(document, start, start + WORD_LENGTH - 1)
      }
    } else {
      for (const word of document) this.#addWord(word, 0, word.length - 1)
    }
  }

  /** How many times `prefix` has been counted so far. */
  count(prefix: string): number {
    const chars = this.#chars
    let node = 0
    let i = 0
    while (i < prefix.length) {
      node = this.#find(node, prefix.charCodeAt(i))
      if (node === -1) return 0
      const start = this.#start[node]!
      const length = this.#length[node]!
      for (let m = 1; m < length && i + m < prefix.length; m++) {
        if (chars[start + m] !== prefix.charCodeAt(i + m)) return 0
      }
      i += length
    }
    return node === 0 ? 0 : this.#count[node]!
  }

  /** The prefixes counted more than `POPULAR_THRESHOLD` times, as a fresh set. */
  popular(): Set<string> {
    const popular = new Set<string>()
    const count = this.#count
    const parent = this.#parent
    const length = this.#length
    // The prefix that ends with each popular edge: `texts[textIndex[node]]` (a dense array, as an
    // array indexed by sparse node ids would fall back to dictionary elements). Counts only fall
    // from parent to child, so a popular edge's parent is popular too, or the root.
    const textIndex = new Int32Array(this.#nodes).fill(-1)
    const texts: Array<string> = [""]
    textIndex[0] = 0
    const textOf = (node: number): string => {
      const index = textIndex[node]!
      if (index !== -1) return texts[index]!
      const text = textOf(parent[node]!) + this.#label(node)
      textIndex[node] = texts.length
      texts.push(text)
      return text
    }
    for (let node = 1; node < this.#nodes; node++) {
      if (count[node]! <= POPULAR_THRESHOLD) continue
      const text = textOf(node)
      for (let end = text.length - length[node]! + 1; end < text.length; end++) popular.add(text.slice(0, end))
      popular.add(text)
    }
    return popular
  }

  /** Number of distinct prefixes counted so far: every prefix is one character of one edge. */
  get size(): number {
    return this.#charsUsed
  }

  /** Counts `text[start..i)` for every `i` in `start+1..last`: a word's proper prefixes when `last` is its end - 1. */
  #addWord(text: string, start: number, last: number): void {
    if (last <= start) return
    // Grow before the word, never inside it, so the hot loop can keep the arrays in locals:
    // a word adds at most two nodes (a split and a leaf) and its characters.
    if (this.#nodes + 2 > this.#parent.length) this.#growNodes()
    while (this.#charsUsed + last - start > this.#chars.length) this.#growChars()
    const parent = this.#parent
    const edgeStart = this.#start
    const edgeLength = this.#length
    const first = this.#first
    const count = this.#count
    const chars = this.#chars
    const table = this.#table
    const mask = table.length - 1
    let node = 0
    let i = start
    while (i < last) {
      const code = text.charCodeAt(i)
      let slot = slotOf(node, code, mask)
      let child = table[slot]!
      while (child !== -1 && (parent[child] !== node || first[child] !== code)) {
        slot = (slot + 1) & mask
        child = table[slot]!
      }
      if (child === -1) {
        // A new leaf holds the rest of the word, counted once.
        const leaf = this.#nodes++
        const at = this.#charsUsed
        for (let k = i; k < last; k++) chars[at + k - i] = text.charCodeAt(k)
        this.#charsUsed = at + last - i
        parent[leaf] = node
        edgeStart[leaf] = at
        edgeLength[leaf] = last - i
        first[leaf] = code
        count[leaf] = 1
        table[slot] = leaf
        return
      }
      const from = edgeStart[child]!
      const length = edgeLength[child]!
      const limit = Math.min(length, last - i)
      let matched = 1
      while (matched < limit && chars[from + matched] === text.charCodeAt(i + matched)) matched++
      if (matched < length) {
        // The word leaves (or ends inside) this edge: cut it. The upper part is a new node in the
        // child's slot; the lower part keeps the child's id, so the links to its children stay valid.
        const upper = this.#nodes++
        parent[upper] = node
        edgeStart[upper] = from
        edgeLength[upper] = matched
        first[upper] = code
        count[upper] = count[child]!
        table[slot] = upper
        parent[child] = upper
        edgeStart[child] = from + matched
        edgeLength[child] = length - matched
        const lowerFirst = chars[from + matched]!
        first[child] = lowerFirst
        table[freeSlot(table, slotOf(upper, lowerFirst, mask), mask)] = child
        child = upper
      }
      count[child] = count[child]! + 1
      node = child
      i += matched
    }
  }

  /** The characters of `node`'s edge. */
  #label(node: number): string {
    const start = this.#start[node]!
    const end = start + this.#length[node]!
    let label = ""
    for (let i = start; i < end; i++) label += String.fromCharCode(this.#chars[i]!)
    return label
  }

  /** The child of `node` whose edge starts with `code`, or `-1`. */
  #find(node: number, code: number): number {
    const table = this.#table
    const mask = table.length - 1
    let slot = slotOf(node, code, mask)
    for (let child = table[slot]!; child !== -1; child = table[slot]!) {
      if (this.#parent[child] === node && this.#first[child] === code) return child
      slot = (slot + 1) & mask
    }
    return -1
  }

  /** Doubles node capacity and rehashes the child links. */
  #growNodes(): void {
    const capacity = this.#parent.length * 2
    this.#parent = resized(this.#parent, capacity)
    this.#start = resized(this.#start, capacity)
    this.#length = resized(this.#length, capacity)
    this.#first = resized(this.#first, capacity)
    this.#count = resized(this.#count, capacity)
    const table = new Int32Array(capacity * 2).fill(-1)
    const mask = table.length - 1
    for (let node = 1; node < this.#nodes; node++) {
      table[freeSlot(table, slotOf(this.#parent[node]!, this.#first[node]!, mask), mask)] = node
    }
    this.#table = table
  }

  #growChars(): void {
    this.#chars = resized(this.#chars, this.#chars.length * 2)
  }
}

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * The serial baseline: `counters` prefix counters in one thread, fed
 * round-robin (document `i` goes to counter `i % counters`), then their
 * popular sets unioned — the same work the post spreads over `counters`
 * actors.
 *
 * Gotchas: with more than one counter the result is not the popular set of
 * a single counter over all documents, since each counter sees only its share;
 * that is the post's semantics, and what the parallel versions must match.
 */
export const serialPrefixCount = (
  documents: ReadonlyArray<Document | ReadonlyArray<string>>,
  counters: number,
  kind: CounterKind = "radix"
): Set<string> => {
  if (!Number.isInteger(counters) || counters < 1) {
    throw new RangeError(`serialPrefixCount: counters must be a positive integer, got ${counters}`)
  }
  const states = Array.from({ length: counters }, () => makePrefixCount(kind))
  documents.forEach((document, i) => states[i % counters]!.add(document))
  return unionPopular(states.map((state) => state.popular()))
}

/** Unions popular-prefix sets (what the driver does with the actors' answers). */
export const unionPopular = (sets: Iterable<Iterable<string>>): Set<string> => {
  const union = new Set<string>()
  for (const set of sets) for (const prefix of set) union.add(prefix)
  return union
}

// ---------------------------------------------------------------------------
// Private machinery
// ---------------------------------------------------------------------------

const INITIAL_NODES = 1 << 12

/**
 * Hashes `(node, code)` to a table slot. Every bit of `node` must reach the slot: folding the
 * pair into one 32-bit key (`node * 65536 + code`) kept only `node`'s low 16 bits, so past 65,536
 * nodes whole families of children shared slots and probed through long clusters.
 */
const slotOf = (node: number, code: number, mask: number): number => {
  // Multiplicative (Fibonacci) hashing: the product's top bits are its best mixed.
  return Math.imul(node ^ Math.imul(code, 0x85ebca6b), 0x9e3779b1) >>> Math.clz32(mask)
}

/** The first empty slot (`-1`) from `slot` on, probing linearly. */
const freeSlot = (table: Int32Array, slot: number, mask: number): number => {
  while (table[slot] !== -1) slot = (slot + 1) & mask
  return slot
}

/** A copy of `array` with room for `length` elements (the new ones zero). */
const resized = <A extends Int32Array | Uint16Array>(array: A, length: number): A => {
  const next = new (array.constructor as new(length: number) => A)(length)
  next.set(array)
  return next
}

const checkDocument = (document: Document): void => {
  if (document.length % WORD_LENGTH !== 0) {
    throw new RangeError(`document length ${document.length} is not a multiple of WORD_LENGTH (${WORD_LENGTH})`)
  }
}
