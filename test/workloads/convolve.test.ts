/**
 * Tests for the serial kernel of Ray's convolution benchmark.
 *
 * The small cases carry expected values derived by hand (the derivation is in
 * the comments); a fast-check property then compares the strided kernel with a
 * plain "full convolution, then subsample" reference on random shapes.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  convolve2dStrided,
  convolve2dStridedShape,
  DEFAULT_STRIDE,
  makeMatrix,
  type Matrix,
  matricesEqual,
  randomFilter,
  randomImage
} from "../../src/workloads/convolve.ts"

describe("convolve2dStrided: hand-computed cases", () => {
  // 3x3 image 1..9 with F = [[1,2],[3,4]]. Full output 4x4, e.g.
  //   (0,1) = I01*F00 + I00*F01 = 2 + 2 = 4
  //   (1,1) = I11*F00 + I10*F01 + I01*F10 + I00*F11 = 5 + 8 + 6 + 4 = 23
  //   (2,2) = I22*1 + I21*2 + I12*3 + I11*4 = 9 + 16 + 18 + 20 = 63
  //   (3,3) = I22*F11 = 36
  // Check: the entries sum to sum(I) * sum(F) = 45 * 10 = 450.
  const square = fromRows([
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9]
  ])
  const squareFilter = fromRows([
    [1, 2],
    [3, 4]
  ])

  it("square image, square filter, stride 1 is the full convolution", () => {
    assertMatrix(convolve2dStrided(square, squareFilter, undefined, 1), [
      [1, 4, 7, 6],
      [7, 23, 33, 24],
      [19, 53, 63, 42],
      [21, 52, 59, 36]
    ])
  })

  it("square image, stride 2 keeps rows and columns 0 and 2", () => {
    assertMatrix(convolve2dStrided(square, squareFilter, undefined, 2), [
      [1, 7],
      [19, 63]
    ])
  })

  it("square image, default stride 5 keeps only cell (0, 0)", () => {
    assert.strictEqual(DEFAULT_STRIDE, 5)
    assertMatrix(convolve2dStrided(square, squareFilter), [[1]])
  })

  // 3x7 image I[i][j] = 7i + j + 1 with G = [[0,1],[2,0]], so
  //   out[i][j] = I[i][j-1] + 2 * I[i-1][j]   (terms outside the image are 0).
  // Row 0: I[0][j-1] = j                           -> 0 1 2 3 4 5 6 7
  // Row 1: (7 + j) + 2(j + 1), ends: 0+2, 14+0     -> 2 12 15 18 21 24 27 14
  // Row 2: (14 + j) + 2(8 + j), ends: 0+16, 21+0   -> 16 33 36 39 42 45 48 21
  // Row 3: 2 * I[2][j] = 30 + 2j, last is 0        -> 30 32 34 36 38 40 42 0
  // A correlation (unflipped filter) would give row 0 = 0 2 4 6 ..., so this
  // also pins the flip. Check: total = sum(I) * sum(G) = 231 * 3 = 693.
  const wide = fromRows([
    [1, 2, 3, 4, 5, 6, 7],
    [8, 9, 10, 11, 12, 13, 14],
    [15, 16, 17, 18, 19, 20, 21]
  ])
  const antiDiagonal = fromRows([
    [0, 1],
    [2, 0]
  ])

  it("non-square 3x7 image, stride 1", () => {
    assertMatrix(convolve2dStrided(wide, antiDiagonal, undefined, 1), [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [2, 12, 15, 18, 21, 24, 27, 14],
      [16, 33, 36, 39, 42, 45, 48, 21],
      [30, 32, 34, 36, 38, 40, 42, 0]
    ])
  })

  it("non-square 3x7 image, strides 2, 3 and 5", () => {
    assertMatrix(convolve2dStrided(wide, antiDiagonal, undefined, 2), [
      [0, 2, 4, 6],
      [16, 36, 42, 48]
    ])
    assertMatrix(convolve2dStrided(wide, antiDiagonal, undefined, 3), [
      [0, 3, 6],
      [30, 36, 42]
    ])
    // The 4x8 full output keeps row 0 and columns 0 and 5.
    assertMatrix(convolve2dStrided(wide, antiDiagonal), [[0, 5]])
  })

  // 2x4 image with the 2x3 filter K = [[1,0,-1],[2,0,-2]]. Each image row r
  // convolved with [1,0,-1] is [r0, r1, r2-r0, r3-r1, -r2, -r3]:
  //   row 0 [1,2,3,4] -> [1,2,2,2,-3,-4],   row 1 [5,6,7,8] -> [5,6,2,2,-7,-8].
  // Full output rows: row0*K0; row1*K0 + 2*(row0*K0); 2*(row1*K0).
  // Cells (1,2) and (1,3) are interior cells (every tap inside the image):
  //   (1,2) = (7 - 5) + 2(3 - 1) = 6.
  const twoByFour = fromRows([
    [1, 2, 3, 4],
    [5, 6, 7, 8]
  ])
  const sobelLike = fromRows([
    [1, 0, -1],
    [2, 0, -2]
  ])

  it("non-square 2x3 filter, stride 1", () => {
    assertMatrix(convolve2dStrided(twoByFour, sobelLike, undefined, 1), [
      [1, 2, 2, 2, -3, -4],
      [7, 10, 6, 6, -13, -16],
      [10, 12, 4, 4, -14, -16]
    ])
  })

  it("non-square 2x3 filter, strides 2 and 5", () => {
    assertMatrix(convolve2dStrided(twoByFour, sobelLike, undefined, 2), [
      [1, 2, -3],
      [10, 4, -14]
    ])
    assertMatrix(convolve2dStrided(twoByFour, sobelLike), [[1, -4]])
  })

  // A 2x3 filter wider than the 2x2 image: no cell is interior. Row by row it
  // is the 1-D full convolution [a,b] * [x,y,z] = [ax, bx+ay, by+az, bz]:
  //   row 0 = [1,2]*[1,2,3]                     = [1, 4, 7, 6]
  //   row 1 = [3,4]*[1,2,3] + [1,2]*[4,5,6]    = [3,10,17,12] + [4,13,16,12]
  //   row 2 = [3,4]*[4,5,6]                     = [12, 31, 38, 24]
  it("filter wider than the image (every cell on the border)", () => {
    const image = fromRows([
      [1, 2],
      [3, 4]
    ])
    const filter = fromRows([
      [1, 2, 3],
      [4, 5, 6]
    ])
    assertMatrix(convolve2dStrided(image, filter, undefined, 1), [
      [1, 4, 7, 6],
      [7, 23, 33, 24],
      [12, 31, 38, 24]
    ])
    assertMatrix(convolve2dStrided(image, filter, undefined, 2), [
      [1, 7],
      [12, 38]
    ])
  })

  // A 1x1 filter [[c]] makes the full output c * image, so striding simply
  // samples the image: for I[i][j] = 10i + j + 1 and stride 5 the cells are
  // I00 = 1, I05 = 6, I50 = 51, I55 = 56, times -2.
  it("1x1 filter scales the image", () => {
    const image = fromRows([
      [1, 2, 3],
      [4, 5, 6]
    ])
    assertMatrix(convolve2dStrided(image, fromRows([[2.5]]), undefined, 1), [
      [2.5, 5, 7.5],
      [10, 12.5, 15]
    ])
    assertMatrix(convolve2dStrided(image, fromRows([[2.5]]), undefined, 2), [[2.5, 7.5]])
    assertMatrix(convolve2dStrided(tenIPlusJ(6, 7), fromRows([[-2]])), [
      [-2, -12],
      [-102, -112]
    ])
  })

  // 7x6 image I[i][j] = 10i + j + 1 with F = [[1,2],[3,4]]: the full output is
  // 8x7, stride 5 keeps rows/columns 0 and 5, so 45 of the 56 cells are skipped.
  //   (0,0) = I00*F00                         = 1
  //   (0,5) = I05*F00 + I04*F01               = 6 + 2*5 = 16
  //   (5,0) = I50*F00 + I40*F10               = 51 + 3*41 = 174
  //   (5,5) = I55 + 2*I54 + 3*I45 + 4*I44     = 56 + 110 + 138 + 180 = 484 (interior)
  it("7x6 image, 2x2 filter, stride 5 skips cells", () => {
    const image = tenIPlusJ(7, 6)
    assert.deepStrictEqual(convolve2dStridedShape(image, squareFilter), { rows: 2, cols: 2 })
    assertMatrix(convolve2dStrided(image, squareFilter), [
      [1, 16],
      [174, 484]
    ])
  })

  // 5x5 image: the kept row and column 5 lie past the image (I = 5 > H - 1),
  // so only tap (1,1) contributes there: (0,5) = I04*F01 = 5*2,
  // (5,0) = I40*F10 = 41*3, (5,5) = I44*F11 = 45*4.
  it("stride 5 landing in the bottom/right padding", () => {
    assertMatrix(convolve2dStrided(tenIPlusJ(5, 5), squareFilter), [
      [1, 10],
      [123, 180]
    ])
  })
})

describe("convolve2dStrided: output buffer", () => {
  it("overwrites a preallocated output (does not accumulate) and returns it", () => {
    const image = tenIPlusJ(7, 6)
    const filter = fromRows([
      [1, 2],
      [3, 4]
    ])
    const out = makeMatrix(2, 2, new Float64Array([NaN, NaN, NaN, NaN]))
    const result = convolve2dStrided(image, filter, out)
    assert.strictEqual(result, out)
    assertMatrix(out, [
      [1, 16],
      [174, 484]
    ])
  })

  it("writes into a view of a SharedArrayBuffer next to the inputs", () => {
    // One shared buffer holding image, filter and output side by side, as a
    // parallel caller would lay them out.
    const shared = new SharedArrayBuffer((42 + 4 + 4) * 8)
    const image = makeMatrix(7, 6, new Float64Array(shared, 0, 42))
    image.data.set(tenIPlusJ(7, 6).data)
    const filter = makeMatrix(2, 2, new Float64Array(shared, 42 * 8, 4))
    filter.data.set([1, 2, 3, 4])
    const out = makeMatrix(2, 2, new Float64Array(shared, 46 * 8, 4))
    convolve2dStrided(image, filter, out)
    assertMatrix(out, [
      [1, 16],
      [174, 484]
    ])
  })
})

describe("convolve2dStrided: matches full convolution then subsampling", () => {
  const shapes = fc.record({
    H: fc.integer({ min: 1, max: 13 }),
    W: fc.integer({ min: 1, max: 13 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    stride: fc.integer({ min: 1, max: 5 })
  })

  it("exactly, on small integers (every sum is exact in doubles)", () => {
    fc.assert(
      fc.property(
        shapes.chain((s) =>
          fc.record({
            s: fc.constant(s),
            image: fc.array(fc.integer({ min: -9, max: 9 }), { minLength: s.H * s.W, maxLength: s.H * s.W }),
            filter: fc.array(fc.integer({ min: -9, max: 9 }), { minLength: s.h * s.w, maxLength: s.h * s.w })
          })
        ),
        ({ filter, image, s }) => {
          const img = makeMatrix(s.H, s.W, Float64Array.from(image))
          const flt = makeMatrix(s.h, s.w, Float64Array.from(filter))
          const expected = naiveStrided(img, flt, s.stride)
          const actual = convolve2dStrided(img, flt, undefined, s.stride)
          assert.strictEqual(actual.rows, Math.ceil((s.H + s.h - 1) / s.stride))
          assert.strictEqual(actual.cols, Math.ceil((s.W + s.w - 1) / s.stride))
          assert.isTrue(matricesEqual(actual, expected, 0), `${JSON.stringify(s)}`)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("within rounding, on random doubles (including shapes past 4-wide filter chunks)", () => {
    fc.assert(
      fc.property(
        fc.record({
          H: fc.integer({ min: 1, max: 30 }),
          W: fc.integer({ min: 1, max: 30 }),
          h: fc.integer({ min: 1, max: 10 }),
          w: fc.integer({ min: 1, max: 10 }),
          stride: fc.integer({ min: 1, max: 5 }),
          seed: fc.integer()
        }),
        (s) => {
          const img = randomImage(s.H, s.W, s.seed)
          const flt = makeMatrix(s.h, s.w, randomImage(s.h, s.w, s.seed ^ 0x5bd1e995).data)
          const expected = naiveStrided(img, flt, s.stride)
          const actual = convolve2dStrided(img, flt, undefined, s.stride)
          assert.isTrue(matricesEqual(actual, expected, 1e-12), `${JSON.stringify(s)}`)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("convolve2dStrided: shape validation", () => {
  const image = makeMatrix(7, 6)
  const filter = makeMatrix(2, 2)

  it("rejects an output of the wrong shape", () => {
    assert.throws(
      () => convolve2dStrided(image, filter, makeMatrix(2, 3)),
      RangeError,
      /out is 2 x 3, .* gives 2 x 2/
    )
    assert.throws(() => convolve2dStrided(image, filter, makeMatrix(8, 7)), RangeError, /gives 2 x 2/)
    // 8x7 is the right shape for stride 1.
    assert.strictEqual(convolve2dStrided(image, filter, makeMatrix(8, 7), 1).rows, 8)
  })

  it("rejects a matrix whose data length disagrees with its shape", () => {
    const shortImage: Matrix = { rows: 7, cols: 6, data: new Float64Array(41) }
    assert.throws(() => convolve2dStrided(shortImage, filter), RangeError, /image is 7 x 6 = 42 elements.*length 41/)
    const longFilter: Matrix = { rows: 2, cols: 2, data: new Float64Array(5) }
    assert.throws(() => convolve2dStrided(image, longFilter), RangeError, /filter is 2 x 2/)
    const badOut: Matrix = { rows: 2, cols: 2, data: new Float64Array(3) }
    assert.throws(() => convolve2dStrided(image, filter, badOut), RangeError, /out is 2 x 2 = 4 elements/)
    assert.throws(() => makeMatrix(2, 3, new Float64Array(5)), RangeError, /length 5/)
  })

  it("rejects empty or fractional dimensions", () => {
    assert.throws(() => makeMatrix(0, 3), RangeError, /positive integer dimensions, got 0 x 3/)
    assert.throws(() => makeMatrix(2, 1.5), RangeError, /positive integer/)
    const empty: Matrix = { rows: 0, cols: 0, data: new Float64Array(0) }
    assert.throws(() => convolve2dStrided(image, empty), RangeError, /filter must have positive integer dimensions/)
  })

  it("rejects a non-positive or fractional stride", () => {
    assert.throws(() => convolve2dStrided(image, filter, undefined, 0), RangeError, /stride must be a positive integer/)
    assert.throws(() => convolve2dStrided(image, filter, undefined, 2.5), RangeError, /stride/)
    assert.throws(() => convolve2dStrided(image, filter, undefined, NaN), RangeError, /stride/)
  })

  it("rejects an output that overlaps an input in memory", () => {
    const buffer = new ArrayBuffer(46 * 8)
    const img = makeMatrix(7, 6, new Float64Array(buffer, 0, 42))
    const flt = makeMatrix(2, 2, new Float64Array(buffer, 42 * 8, 4))
    const overImage = makeMatrix(2, 2, new Float64Array(buffer, 40 * 8, 4))
    assert.throws(() => convolve2dStrided(img, flt, overImage), RangeError, /overlaps image/)
    const overFilter = makeMatrix(2, 2, new Float64Array(buffer, 42 * 8, 4))
    assert.throws(() => convolve2dStrided(img, flt, overFilter), RangeError, /overlaps filter/)
  })
})

describe("randomImage / randomFilter", () => {
  it("is mulberry32 mapped to [-1, 1)", () => {
    // mulberry32 with seed 1 first yields 2693262067 / 2^32 = 0.6270739405881613.
    assert.strictEqual(randomImage(1, 1, 1).data[0], 2 * 0.6270739405881613 - 1)
  })

  it("is determined by the seed and stays in [-1, 1)", () => {
    const a = randomImage(40, 50, 7)
    assert.isTrue(matricesEqual(a, randomImage(40, 50, 7)))
    assert.isFalse(matricesEqual(a, randomImage(40, 50, 8), 0.5))
    for (const x of a.data) assert.isTrue(x >= -1 && x < 1)
    // Not degenerate: both signs and a spread of values appear.
    assert.isTrue(a.data.some((x) => x < -0.5) && a.data.some((x) => x > 0.5))
  })

  it("fills a provided array in place", () => {
    const shared = new Float64Array(new SharedArrayBuffer(16 * 8))
    const filter = randomFilter(4, 3, shared)
    assert.strictEqual(filter.data, shared)
    assert.deepStrictEqual([filter.rows, filter.cols], [4, 4])
    assert.isTrue(matricesEqual(filter, randomImage(4, 4, 3)))
    assert.throws(() => randomFilter(3, 3, shared), RangeError)
  })
})

describe("matricesEqual", () => {
  const a = fromRows([[1, 2, 1000]])

  it("requires equal shapes", () => {
    assert.isFalse(matricesEqual(a, fromRows([[1], [2], [1000]]), 1))
  })

  it("uses an absolute bound near zero and a relative bound above 1", () => {
    assert.isTrue(matricesEqual(a, fromRows([[1, 2, 1000]])))
    assert.isTrue(matricesEqual(a, fromRows([[1.0005, 2, 1000]]), 1e-3))
    assert.isFalse(matricesEqual(a, fromRows([[1.002, 2, 1000]]), 1e-3))
    // 0.5 off at 1000 is within a relative 1e-3 (allowed: 1.0).
    assert.isTrue(matricesEqual(a, fromRows([[1, 2, 1000.5]]), 1e-3))
    assert.isFalse(matricesEqual(a, fromRows([[1, 2, 1002]]), 1e-3))
  })

  it("never matches NaN", () => {
    assert.isFalse(matricesEqual(fromRows([[NaN]]), fromRows([[NaN]]), 1))
    assert.isTrue(matricesEqual(fromRows([[Infinity]]), fromRows([[Infinity]])))
  })
})

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const fromRows = (rows: ReadonlyArray<ReadonlyArray<number>>): Matrix =>
  makeMatrix(rows.length, rows[0]!.length, Float64Array.from(rows.flat()))

/** I[i][j] = 10i + j + 1, so every cell's value names its position. */
const tenIPlusJ = (rows: number, cols: number): Matrix => {
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) data[i * cols + j] = 10 * i + j + 1
  }
  return makeMatrix(rows, cols, data)
}

const assertMatrix = (actual: Matrix, expected: ReadonlyArray<ReadonlyArray<number>>): void => {
  const rows: Array<Array<number>> = []
  for (let i = 0; i < actual.rows; i++) {
    rows.push(Array.from(actual.data.subarray(i * actual.cols, (i + 1) * actual.cols)))
  }
  assert.deepStrictEqual(rows, expected)
}

/**
 * The reference: scipy's definition written out plainly. Computes every cell
 * of the full (H+h-1) x (W+w-1) convolution with a bounds test per tap, then
 * keeps every `stride`-th row and column.
 */
const naiveStrided = (image: Matrix, filter: Matrix, stride: number): Matrix => {
  const fullRows = image.rows + filter.rows - 1
  const fullCols = image.cols + filter.cols - 1
  const full: Array<Array<number>> = []
  for (let i = 0; i < fullRows; i++) {
    const row: Array<number> = []
    for (let j = 0; j < fullCols; j++) {
      let sum = 0
      for (let m = 0; m < filter.rows; m++) {
        for (let n = 0; n < filter.cols; n++) {
          const r = i - m
          const c = j - n
          if (r >= 0 && r < image.rows && c >= 0 && c < image.cols) {
            sum += image.data[r * image.cols + c]! * filter.data[m * filter.cols + n]!
          }
        }
      }
      row.push(sum)
    }
    full.push(row)
  }
  const kept = full.filter((_, i) => i % stride === 0).map((row) => row.filter((_, j) => j % stride === 0))
  return fromRows(kept)
}
