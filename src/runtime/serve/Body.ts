/**
 * Predict request and response bodies: JSON (`{"inputs": [[…], …]}` or `{"input": […]}`) and
 * `application/octet-stream` (little-endian Float32, items back to back), parsed into one flat
 * Float32Array of whole items, or a 400 that names the field at fault.
 */

/** A body that cannot be a batch of items, with the JSON path (or `body`) at fault. */
export interface BodyIssue {
  readonly field: string
  readonly message: string
}

export type Parsed =
  | { readonly _tag: "Items"; readonly rows: number; readonly input: Float32Array }
  | { readonly _tag: "Issue"; readonly issue: BodyIssue }

const issue = (field: string, message: string): Parsed => ({ _tag: "Issue", issue: { field, message } })

/** Items of `inputSize` floats from a binary body (Float32, little-endian: the platform's order here). */
export const parseBinary = (bytes: ArrayBuffer, inputSize: number, maxItems: number): Parsed => {
  const itemBytes = inputSize * 4
  if (bytes.byteLength > maxItems * itemBytes) return issue("body", `at most ${maxItems} items per request`)
  if (bytes.byteLength === 0 || bytes.byteLength % itemBytes !== 0) {
    return issue(
      "body",
      `expected a whole number of items of ${inputSize} float32 values (${itemBytes} bytes each), got ${bytes.byteLength} bytes`
    )
  }
  const input = new Float32Array(bytes)
  // As in JSON bodies: a NaN or an infinity is no input a model can answer meaningfully.
  for (let i = 0; i < input.length; i++) {
    if (!Number.isFinite(input[i])) {
      const row = Math.floor(i / inputSize)
      return issue(`body[${row}][${i - row * inputSize}]`, `expected a finite float32 number, got ${input[i]}`)
    }
  }
  return { _tag: "Items", rows: bytes.byteLength / itemBytes, input }
}

/** Items of `inputSize` numbers from a JSON body: `inputs` (an array of items) or `input` (one item), never both. */
export const parseJson = (text: string, inputSize: number, maxItems: number): Parsed => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    return issue("body", `not JSON: ${(error as Error).message}`)
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return issue("body", `expected an object with "inputs" (an array of items) or "input" (one item)`)
  }
  const record = body as Record<string, unknown>
  // Either field alone is a whole request: with both, answering one would drop the other's items.
  if (record.inputs !== undefined && record.input !== undefined) {
    return issue("body", `send either "inputs" (an array of items) or "input" (one item), not both`)
  }
  if (record.inputs !== undefined) {
    const inputs = record.inputs
    if (!Array.isArray(inputs) || inputs.length === 0) return issue("inputs", "expected a non-empty array of items")
    if (inputs.length > maxItems) return issue("inputs", `at most ${maxItems} items per request, got ${inputs.length}`)
    const flat = new Float32Array(inputs.length * inputSize)
    for (let row = 0; row < inputs.length; row++) {
      const problem = copyItem(inputs[row], inputSize, flat, row * inputSize, `inputs[${row}]`)
      if (problem !== undefined) return { _tag: "Issue", issue: problem }
    }
    return { _tag: "Items", rows: inputs.length, input: flat }
  }
  if (record.input !== undefined) {
    const flat = new Float32Array(inputSize)
    const problem = copyItem(record.input, inputSize, flat, 0, "input")
    return problem === undefined ? { _tag: "Items", rows: 1, input: flat } : { _tag: "Issue", issue: problem }
  }
  return issue("inputs", `missing: send "inputs" (an array of items of ${inputSize} numbers) or "input" (one item)`)
}

/**
 * The most bytes a body of `maxItems` items may take: exactly their Float32 bytes when `binary`,
 * else JSON at up to 48 characters a number. A longer declared body is refused before it is read.
 *
 * 48: a double's longest shortest form (`-1.2345678901234567e-308`, 24 characters) with its comma,
 * on its own line three levels deep at an indent of 4 (`json.dumps(indent=4)`) takes 38; 32 refused
 * such a body of `maxItems` items with a 413.
 */
export const maxBodyBytes = (inputSize: number, maxItems: number, binary: boolean): number =>
  binary ? maxItems * inputSize * 4 : maxItems * inputSize * 48 + 1024

/** An answer's format: JSON (`application/json`) or Float32 bytes (`application/octet-stream`). */
export type OutputFormat = "json" | "binary"

/**
 * The format of the answer that `accept` (the request's `Accept`) allows, as RFC 9110 §12.5.1
 * reads it: each format takes the q of the most specific range that names it (`application/json`,
 * then `application/*`, then `*` + `/*`), none or `q=0` meaning not acceptable; the higher q wins, a
 * tie goes to the body's own format. `undefined` when neither is acceptable (a 406). A header that
 * is absent, or has no well-formed range, accepts both. Parameters other than q are not compared:
 * both answers are one fixed type each.
 */
export const negotiate = (accept: string | undefined, binaryBody: boolean): OutputFormat | undefined => {
  // [specificity, q] of the most specific range seen so far, per format; specificity 0 is none.
  const json = [0, 0]
  const binary = [0, 0]
  let wellFormed = false
  for (const part of (accept ?? "").split(",")) {
    const [range, ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase())
    const type = mediaRange.exec(range ?? "")
    if (type === null || (type[1] === "*" && type[2] !== "*")) continue
    let q = 1
    const weight = parameters.find((parameter) => /^q\s*=/.test(parameter))
    if (weight !== undefined) {
      const value = weight.replace(/^q\s*=\s*/, "")
      if (!qValue.test(value)) continue
      q = Number(value)
    }
    wellFormed = true
    for (const [format, subtype] of [[json, "json"], [binary, "octet-stream"]] as const) {
      const specificity = type[1] === "*" ? 1 : type[1] !== "application" ? 0 : type[2] === "*" ? 2 : type[2] === subtype ? 3 : 0
      // Equally specific ranges (parameters set apart) count at their best.
      if (specificity > format[0]! || (specificity > 0 && specificity === format[0] && q > format[1]!)) {
        format[0] = specificity
        format[1] = q
      }
    }
  }
  if (!wellFormed) return binaryBody ? "binary" : "json"
  const [qJson, qBinary] = [json[1]!, binary[1]!]
  if (qJson === 0 && qBinary === 0) return undefined
  return qBinary > qJson || (qBinary === qJson && binaryBody) ? "binary" : "json"
}

/** `type/subtype`, each an RFC 9110 token. */
const mediaRange = /^([!#$%&'*+.^_`|~0-9a-z-]+)\/([!#$%&'*+.^_`|~0-9a-z-]+)$/
/** RFC 9110 §12.4.2: 0 to 1, at most three decimals. */
const qValue = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/**
 * The JSON answer: one array of `width` numbers per item. A NaN or an infinity is the string
 * `"NaN"`, `"Infinity"` or `"-Infinity"`, as proto3's JSON mapping and `Schema.Number` write them:
 * `JSON.stringify` would make it `null` (a missing value, not the model's answer), and the bare
 * tokens TF Serving and Triton write are no JSON that `JSON.parse` reads.
 */
export const encodeJson = (output: Float32Array, width: number): string => {
  const rows = width === 0 ? 0 : output.length / width
  const outputs: Array<Array<number | string>> = new Array(rows)
  const finite = output.every(Number.isFinite)
  for (let row = 0; row < rows; row++) {
    const item = Array.from(output.subarray(row * width, (row + 1) * width))
    outputs[row] = finite ? item : item.map((value) => Number.isFinite(value) ? value : String(value))
  }
  return JSON.stringify({ outputs })
}

const copyItem = (item: unknown, inputSize: number, into: Float32Array, at: number, field: string): BodyIssue | undefined => {
  if (!Array.isArray(item)) return { field, message: `expected an array of ${inputSize} numbers` }
  if (item.length !== inputSize) return { field, message: `expected ${inputSize} numbers, got ${item.length}` }
  for (let i = 0; i < inputSize; i++) {
    const value = item[i]
    if (typeof value !== "number") {
      return { field: `${field}[${i}]`, message: `expected a finite number, got ${JSON.stringify(value) ?? String(value)}` }
    }
    // JSON has no NaN: a number that is not finite is one past a double's range (1e400), which
    // JSON.stringify would show as null.
    if (!Number.isFinite(value)) {
      return { field: `${field}[${i}]`, message: `expected a finite number, got one past a double's range (${value})` }
    }
    // Finite as a double is not enough: past float32's range (±3.4e38) it is stored as ±Infinity.
    const single = Math.fround(value)
    if (!Number.isFinite(single)) {
      return { field: `${field}[${i}]`, message: `expected a finite float32 number, got ${value} (beyond ±3.4e38)` }
    }
    into[at + i] = single
  }
  return undefined
}
