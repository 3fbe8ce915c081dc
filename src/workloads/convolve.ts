/**
 * The serial numerical kernel of the benchmark workload from Ray's "Modern
 * Parallel and Distributed Python" post: `scipy.signal.convolve2d(image,
 * filter)[::5, ::5]`.
 *
 * This module contains the `Matrix` model (a row-major `Float64Array` with an
 * explicit shape, possibly backed by a `SharedArrayBuffer`), the strided
 * convolution kernel `convolve2dStrided` and its shape rule
 * `convolve2dStridedShape`, and the helpers the benchmark needs: a seeded
 * `randomImage` / `randomFilter` and a tolerant `matricesEqual`.
 *
 * The kernel is the serial baseline every parallel version is compared against,
 * so it is written to be fast rather than short: it computes only the output
 * cells that survive the stride, splits them into interior cells (every filter
 * tap lands inside the image, so no bounds checks; swept a filter row at a time
 * with the coefficients in locals) and border cells (the filter taps are
 * clamped once per cell, never tested per tap), and allocates nothing after
 * validation.
 *
 * @since 0.1.0
 */
import type { SharedArray } from "../worker.ts"
import { mulberry32 } from "./internal/random.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * A dense `rows x cols` matrix of doubles stored row-major: element `(i, j)`
 * lives at `data[i * cols + j]`.
 *
 * **Details**
 *
 * `data` may view any `ArrayBufferLike`, so a matrix can sit in a
 * `SharedArrayBuffer` that several workers read or write. A view into a larger
 * buffer is fine as long as `data.length === rows * cols`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Matrix {
  readonly rows: number
  readonly cols: number
  readonly data: Float64Array<ArrayBufferLike>
}

/**
 * Doubles the kernel reads: a plain `Float64Array`, or a read-only view of shared memory (what a
 * worker's handler receives).
 *
 * @category models
 * @since 0.1.0
 */
export type ReadonlyFloat64 = Float64Array<ArrayBufferLike> | SharedArray.ReadonlySharedArray<"Float64">

/**
 * A matrix the kernel only reads: like `Matrix`, over read-only storage.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReadonlyMatrix {
  readonly rows: number
  readonly cols: number
  readonly data: ReadonlyFloat64
}

/**
 * The stride of Ray's benchmark: it keeps every 5th row and column (`[::5, ::5]`).
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_STRIDE = 5

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Builds a `Matrix`, allocating zeroed storage unless `data` is given.
 *
 * **Gotchas**
 *
 * A provided `data` is used as-is (not copied), so writes through the matrix
 * are visible to every other view of the same buffer. Throws a `RangeError` if
 * the shape is not a pair of positive integers or `data` has the wrong length.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMatrix = (
  rows: number,
  cols: number,
  data?: Float64Array<ArrayBufferLike>
): Matrix => {
  checkDimensions("makeMatrix", "matrix", rows, cols)
  const storage = data ?? new Float64Array(rows * cols)
  const matrix: Matrix = { rows, cols, data: storage }
  checkMatrix("makeMatrix", "matrix", matrix)
  return matrix
}

/**
 * A `rows x cols` matrix of independent values uniform in `[-1, 1)`, fully
 * determined by `seed`.
 *
 * **When to use**
 *
 * To build benchmark inputs that every worker can regenerate from a seed
 * instead of receiving a 72 MB image over a channel, and reproducible test
 * inputs.
 *
 * **Details**
 *
 * Uses mulberry32, a 32-bit generator that needs only integer multiplies and
 * shifts. The values are a uniform draw rather than numpy's normal draw: the
 * uniform map is exact integer arithmetic plus one division by a power of two,
 * so the same seed gives bit-identical matrices on every engine and platform.
 * The kernel's speed does not depend on the distribution.
 *
 * Pass `out` (length `rows * cols`, e.g. a view of a `SharedArrayBuffer`) to
 * fill existing storage instead of allocating.
 *
 * @category constructors
 * @since 0.1.0
 */
export const randomImage = (
  rows: number,
  cols: number,
  seed: number,
  out?: Float64Array<ArrayBufferLike>
): Matrix => {
  const matrix = makeMatrix(rows, cols, out)
  fillUniform(matrix.data, seed)
  return matrix
}

/**
 * A `size x size` filter of values uniform in `[-1, 1)`, fully determined by
 * `seed` (Ray's benchmark uses 4 x 4 filters).
 *
 * @see {@link randomImage} for the generator and the `out` parameter
 *
 * @category constructors
 * @since 0.1.0
 */
export const randomFilter = (
  size: number,
  seed: number,
  out?: Float64Array<ArrayBufferLike>
): Matrix => randomImage(size, size, seed, out)

// ---------------------------------------------------------------------------
// kernel
// ---------------------------------------------------------------------------

/**
 * The shape of `convolve2dStrided(image, filter, out, stride)`:
 * `ceil((H + h - 1) / stride) x ceil((W + w - 1) / stride)` for an `H x W`
 * image and an `h x w` filter.
 *
 * **When to use**
 *
 * To preallocate the output, for instance in shared memory, before calling
 * the kernel.
 *
 * @category kernel
 * @since 0.1.0
 */
export const convolve2dStridedShape = (
  image: ReadonlyMatrix,
  filter: ReadonlyMatrix,
  stride: number = DEFAULT_STRIDE
): { readonly rows: number; readonly cols: number } => {
  checkStride("convolve2dStridedShape", stride)
  checkMatrix("convolve2dStridedShape", "image", image)
  checkMatrix("convolve2dStridedShape", "filter", filter)
  return {
    rows: Math.ceil((image.rows + filter.rows - 1) / stride),
    cols: Math.ceil((image.cols + filter.cols - 1) / stride)
  }
}

/**
 * `scipy.signal.convolve2d(image, filter)[::stride, ::stride]`: the full 2-D
 * convolution with zero padding, keeping every `stride`-th row and column
 * starting at 0.
 *
 * **Details**
 *
 * Output cell `(r, c)` is `sum over m, n of image[r*stride - m][c*stride - n]
 * * filter[m][n]`, taken over the taps that fall inside the image (the filter
 * is flipped, as in a true convolution, not a correlation). Only the kept
 * cells are computed, so the default stride does 1/25 of the full
 * convolution's work.
 *
 * Writes into `out` when given (its shape must be
 * {@link convolve2dStridedShape}; it is overwritten, not accumulated into) and
 * returns it; otherwise returns a new matrix.
 *
 * **Gotchas**
 *
 * Throws a `RangeError` on a malformed matrix, a non-positive or fractional
 * stride, an `out` of the wrong shape, or an `out` whose storage overlaps the
 * image or the filter (the kernel would read cells it has already
 * overwritten). Each cell is summed in a fixed order, so results are
 * deterministic but may differ from scipy's in the last bits.
 *
 * @category kernel
 * @since 0.1.0
 */
export const convolve2dStrided = (
  image: ReadonlyMatrix,
  filter: ReadonlyMatrix,
  out?: Matrix,
  stride: number = DEFAULT_STRIDE
): Matrix => {
  const shape = convolve2dStridedShape(image, filter, stride)
  let result: Matrix
  if (out === undefined) {
    result = makeMatrix(shape.rows, shape.cols)
  } else {
    checkMatrix("convolve2dStrided", "out", out)
    if (out.rows !== shape.rows || out.cols !== shape.cols) {
      throw new RangeError(
        `convolve2dStrided: out is ${out.rows} x ${out.cols}, but a ${image.rows} x ${image.cols} image ` +
          `convolved with a ${filter.rows} x ${filter.cols} filter at stride ${stride} gives ` +
          `${shape.rows} x ${shape.cols}`
      )
    }
    checkNoOverlap("out", out.data, "image", image.data)
    checkNoOverlap("out", out.data, "filter", filter.data)
    result = out
  }
  stridedKernel(
    image.data,
    image.rows,
    image.cols,
    filter.data,
    filter.rows,
    filter.cols,
    result.data,
    shape.rows,
    shape.cols,
    stride
  )
  return result
}

// ---------------------------------------------------------------------------
// comparison
// ---------------------------------------------------------------------------

/**
 * Whether `a` and `b` have the same shape and every pair of elements is within
 * `tolerance`, measured relative to the larger magnitude once that exceeds 1:
 * `|x - y| <= tolerance * max(1, |x|, |y|)`.
 *
 * **Details**
 *
 * The mixed absolute/relative bound lets one tolerance serve both cells near
 * zero and large sums, whose rounding error grows with their magnitude. Equal
 * values (including equal infinities) always match; `NaN` matches nothing.
 *
 * @category comparison
 * @since 0.1.0
 */
export const matricesEqual = (a: ReadonlyMatrix, b: ReadonlyMatrix, tolerance: number = 0): boolean => {
  if (a.rows !== b.rows || a.cols !== b.cols) return false
  const x = a.data
  const y = b.data
  const n = a.rows * a.cols
  if (x.length < n || y.length < n) return false
  for (let i = 0; i < n; i++) {
    const u = x[i]!
    const v = y[i]!
    if (u === v) continue
    // Written so that a NaN on either side fails the test.
    if (!(Math.abs(u - v) <= tolerance * Math.max(1, Math.abs(u), Math.abs(v)))) return false
  }
  return true
}

// ---------------------------------------------------------------------------
// private machinery
// ---------------------------------------------------------------------------

/**
 * The kernel on raw arrays, after validation.
 *
 * Output cell `(oi, oj)` is full-convolution cell `(I, J) = (oi*s, oj*s)`. Its
 * taps `(I - m, J - n)` all lie inside the image exactly when
 * `h - 1 <= I <= H - 1` and `w - 1 <= J <= W - 1`; for a 3000 x 3000 image and
 * a 4 x 4 filter that is all but a one-cell frame of the 600 x 600 output, so
 * the interior is the part that must be fast. Border cells go through
 * `borderCell`, which clamps the tap ranges once per cell.
 */
const stridedKernel = (
  img: ReadonlyFloat64,
  H: number,
  W: number,
  flt: ReadonlyFloat64,
  h: number,
  w: number,
  out: Float64Array<ArrayBufferLike>,
  outRows: number,
  outCols: number,
  s: number
): void => {
  // Interior output rows/columns, inclusive; empty when lo > hi (filter larger than image).
  const oiLo = Math.ceil((h - 1) / s)
  const oiHi = Math.floor((H - 1) / s)
  const ojLo = Math.ceil((w - 1) / s)
  const ojHi = Math.floor((W - 1) / s)
  for (let oi = 0; oi < outRows; oi++) {
    const I = oi * s
    const outBase = oi * outCols
    if (oi < oiLo || oi > oiHi || ojLo > ojHi) {
      for (let oj = 0; oj < outCols; oj++) {
        out[outBase + oj] = borderCell(img, H, W, flt, h, w, I, oj * s)
      }
      continue
    }
    for (let oj = 0; oj < ojLo; oj++) {
      out[outBase + oj] = borderCell(img, H, W, flt, h, w, I, oj * s)
    }
    interiorRow(img, W, flt, h, w, out, outBase + ojLo, outBase + ojHi, I * W + ojLo * s, s)
    for (let oj = ojHi + 1; oj < outCols; oj++) {
      out[outBase + oj] = borderCell(img, H, W, flt, h, w, I, oj * s)
    }
  }
}

/**
 * The interior cells `out[oStart..oEnd]` of one output row; `corner` is the
 * image index of the first cell's tap (0, 0), i.e. pixel (I, J).
 *
 * Rather than summing each cell's `h * w` taps in turn, this sweeps the row
 * once per filter row and up to four filter columns, holding those
 * coefficients in locals: the inner loop is then four multiply-adds on
 * adjacent pixels with no filter loads and no loop over `n`, which measured
 * about 1.7x faster than the per-cell loop for a 4 x 4 filter. The output row
 * (600 doubles for the benchmark) stays in L1 between sweeps. The leftover
 * `w mod 4` columns get one sweep of their own, so a 3 x 3 filter also takes a
 * single sweep per filter row.
 */
const interiorRow = (
  img: ReadonlyFloat64,
  W: number,
  flt: ReadonlyFloat64,
  h: number,
  w: number,
  out: Float64Array<ArrayBufferLike>,
  oStart: number,
  oEnd: number,
  corner: number,
  s: number
): void => {
  const rem = w & 3
  for (let o = oStart; o <= oEnd; o++) out[o] = 0
  for (let m = 0, fRow = 0, base = corner; m < h; m++, fRow += w, base -= W) {
    // Tap (m, n) of the cell at `o` reads `p - n`, where `p` is that cell's pixel (I - m, J).
    for (let n = 0; n + 3 < w; n += 4) {
      const f0 = flt[fRow + n]!
      const f1 = flt[fRow + n + 1]!
      const f2 = flt[fRow + n + 2]!
      const f3 = flt[fRow + n + 3]!
      for (let o = oStart, p = base - n; o <= oEnd; o++, p += s) {
        out[o] = out[o]! + img[p]! * f0 + img[p - 1]! * f1 + img[p - 2]! * f2 + img[p - 3]! * f3
      }
    }
    const n = w - rem
    if (rem === 1) {
      const f0 = flt[fRow + n]!
      for (let o = oStart, p = base - n; o <= oEnd; o++, p += s) {
        out[o] = out[o]! + img[p]! * f0
      }
    } else if (rem === 2) {
      const f0 = flt[fRow + n]!
      const f1 = flt[fRow + n + 1]!
      for (let o = oStart, p = base - n; o <= oEnd; o++, p += s) {
        out[o] = out[o]! + img[p]! * f0 + img[p - 1]! * f1
      }
    } else if (rem === 3) {
      const f0 = flt[fRow + n]!
      const f1 = flt[fRow + n + 1]!
      const f2 = flt[fRow + n + 2]!
      for (let o = oStart, p = base - n; o <= oEnd; o++, p += s) {
        out[o] = out[o]! + img[p]! * f0 + img[p - 1]! * f1 + img[p - 2]! * f2
      }
    }
  }
}

/**
 * Full-convolution cell `(I, J)` with the taps restricted to the image: `m`
 * ranges over `max(0, I-H+1) .. min(h-1, I)` and `n` likewise, so no tap is
 * tested individually.
 */
const borderCell = (
  img: ReadonlyFloat64,
  H: number,
  W: number,
  flt: ReadonlyFloat64,
  h: number,
  w: number,
  I: number,
  J: number
): number => {
  const mLo = I - H + 1 > 0 ? I - H + 1 : 0
  const mHi = I < h - 1 ? I : h - 1
  const nLo = J - W + 1 > 0 ? J - W + 1 : 0
  const nHi = J < w - 1 ? J : w - 1
  let acc = 0
  for (let m = mLo; m <= mHi; m++) {
    const imgRow = (I - m) * W + J
    const fltRow = m * w
    for (let n = nLo; n <= nHi; n++) {
      acc += img[imgRow - n]! * flt[fltRow + n]!
    }
  }
  return acc
}

/** Fills `data` with values uniform in [-1, 1), 32 random bits each, from one mulberry32 stream. */
const fillUniform = (data: Float64Array<ArrayBufferLike>, seed: number): void => {
  const next = mulberry32(seed)
  // next() / 2^31 is in [0, 2); every step is exact in double precision.
  for (let i = 0; i < data.length; i++) data[i] = next() / 2147483648 - 1
}

const checkDimensions = (where: string, what: string, rows: number, cols: number): void => {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`${where}: ${what} must have positive integer dimensions, got ${rows} x ${cols}`)
  }
}

const checkMatrix = (where: string, what: string, matrix: ReadonlyMatrix): void => {
  checkDimensions(where, what, matrix.rows, matrix.cols)
  if (matrix.data.length !== matrix.rows * matrix.cols) {
    throw new RangeError(
      `${where}: ${what} is ${matrix.rows} x ${matrix.cols} = ${matrix.rows * matrix.cols} elements, ` +
        `but its data has length ${matrix.data.length}`
    )
  }
}

const checkStride = (where: string, stride: number): void => {
  if (!Number.isSafeInteger(stride) || stride < 1) {
    throw new RangeError(`${where}: stride must be a positive integer, got ${stride}`)
  }
}

const checkNoOverlap = (
  outName: string,
  out: Float64Array<ArrayBufferLike>,
  inName: string,
  input: ReadonlyFloat64
): void => {
  if (out.buffer !== input.buffer) return
  const outStart = out.byteOffset
  const outEnd = outStart + out.byteLength
  const inStart = input.byteOffset
  const inEnd = inStart + input.byteLength
  if (outStart < inEnd && inStart < outEnd) {
    throw new RangeError(`convolve2dStrided: ${outName} overlaps ${inName} in memory`)
  }
}
