/**
 * A minimal protobuf writer, enough for onnx.proto: varints (wire type 0) and length-delimited
 * fields (wire type 2: strings, bytes, sub-messages). Repeated int64 fields are written unpacked,
 * as proto2 does by default. Every message is built bottom up as a byte array, so lengths are known
 * when the parent writes them. Used by the MLP workload and the test fixtures' one-op models.
 */

const VARINT = 0
const LENGTH_DELIMITED = 2

const utf8 = new TextEncoder()

const varint = (value: number): Array<number> => {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf: cannot encode ${value} as a varint`)
  const bytes: Array<number> = []
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }
  bytes.push(value)
  return bytes
}

export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export const intField = (field: number, value: number): Uint8Array =>
  Uint8Array.from([...varint((field << 3) | VARINT), ...varint(value)])

export const bytesField = (field: number, bytes: Uint8Array): Uint8Array =>
  concat([Uint8Array.from([...varint((field << 3) | LENGTH_DELIMITED), ...varint(bytes.length)]), bytes])

export const stringField = (field: number, text: string): Uint8Array => bytesField(field, utf8.encode(text))

export const message = (field: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => bytesField(field, concat(parts))
