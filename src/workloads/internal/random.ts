/**
 * Seeded pseudo-random numbers shared by the benchmark workloads.
 *
 * Contains `mulberry32` (a 32-bit generator: tiny state, good enough
 * statistics for synthetic data, and identical output on every thread and
 * platform) and converters from its 32-bit draws to letters and floats.
 */

/**
 * A mulberry32 generator: each call returns the next unsigned 32-bit integer.
 *
 * Details: the same seed always yields the same sequence, so workers can
 * regenerate inputs locally instead of receiving them.
 */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

/**
 * Maps a 32-bit draw to a float in [0, 1) that is exactly representable as a
 * float32.
 *
 * Gotchas: `u / 2 ** 32` rounds up to `1` once stored in a `Float32Array`, so
 * only the top 24 bits (the float32 mantissa width) are kept.
 */
export const unitFloat32 = (u: number): number => (u >>> 8) * 5.9604644775390625e-8 // 2 ** -24

/** Maps a 32-bit draw to an integer in [0, n) (multiply-shift, no modulo bias worth noting for small n). */
export const below = (u: number, n: number): number => Math.floor((u * n) / 4294967296)
