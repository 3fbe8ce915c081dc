/**
 * The pipeline scenario's three stages of unequal cost, as plain functions (the serial baseline
 * calls them directly; the workers call the same code): generate a 32-sample signal from a seed
 * (cheap), convolve it with a 5-tap kernel 24 times (the heavy stage), reduce it to its energy
 * (cheapest).
 */
export const samples = 32

export const generate = (seed: number): Float64Array => {
  const out = new Float64Array(samples)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < samples; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = (x % 1000) / 1000
  }
  return out
}

const taps = [0.1, 0.2, 0.4, 0.2, 0.1]

export const convolve = (input: ArrayLike<number>): Float64Array => {
  let a = Float64Array.from(input)
  let b = new Float64Array(samples)
  for (let round = 0; round < 24; round++) {
    for (let i = 0; i < samples; i++) {
      let s = 0
      for (let t = 0; t < 5; t++) {
        const j = i + t - 2
        if (j >= 0 && j < samples) s += a[j]! * taps[t]!
      }
      b[i] = s
    }
    const swap = a
    a = b
    b = swap
  }
  return a
}

export const reduce = (input: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < input.length; i++) s += input[i]! * input[i]!
  return s
}

/** The image stages: a `side × side` image from a seed, a 5 × 5 convolution (the heavy stage), and its sum. */
export const side = 64

export const generateImage = (seed: number): Float64Array => {
  const out = new Float64Array(side * side)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = (x % 256) / 256
  }
  return out
}

export const convolveImage = (image: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(side * side)
  for (let r = 2; r < side - 2; r++) {
    for (let c = 2; c < side - 2; c++) {
      let s = 0
      for (let dr = -2; dr <= 2; dr++) {
        const row = (r + dr) * side + c
        for (let dc = -2; dc <= 2; dc++) s += image[row + dc]! * (1 + ((dr * 5 + dc) & 3))
      }
      out[r * side + c] = s / 40
    }
  }
  return out
}

export const sumImage = (image: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < image.length; i++) s += image[i]!
  return s
}
