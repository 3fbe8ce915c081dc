/**
 * Small fingerprints of large outputs.
 *
 * A variant's output (a set of 18,000 prefixes, 100,000 probabilities) is
 * checked in the child that produced it and only a fingerprint travels back
 * to the parent: the child-to-parent channel is JSON, and comparing
 * fingerprints across children is all the parent needs.
 */

/** 32-bit FNV-1a over the UTF-16 code units of `parts`, in order, with a separator between parts; as 8 hex digits. */
export const fnv1a = (parts: Iterable<string>): string => {
  let hash = 0x811c9dc5
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      hash ^= part.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193)
    }
    // Separator: ["ab", "c"] and ["a", "bc"] must not collide.
    hash ^= 0xffff
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}

/** 32-bit FNV-1a over bytes, as 8 hex digits. */
export const fnv1aBytes = (bytes: Uint8Array): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}

/**
 * FNV-1a over bytes fed in pieces: `update` each piece in order, then `digest`; the same as
 * `fnv1aBytes` of their concatenation, without holding the pieces.
 */
export const fnv1aStream = () => {
  let hash = 0x811c9dc5
  return {
    update: (bytes: Uint8Array): void => {
      for (let i = 0; i < bytes.length; i++) {
        hash ^= bytes[i]!
        hash = Math.imul(hash, 0x01000193)
      }
    },
    digest: (): string => (hash >>> 0).toString(16).padStart(8, "0")
  }
}
