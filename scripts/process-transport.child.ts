/**
 * The child of `process-transport.ts`: echoes every message, on the IPC channel (`ipc`) or on fd 3
 * in length-prefixed `v8.serialize` frames (`pipe`). Also the framing both sides use.
 */
import { Socket } from "node:net"
import { deserialize, serialize } from "node:v8"

/** A frame: 4 bytes of length (little-endian), then the body. */
export const frame = (body: Buffer): Buffer => {
  const head = Buffer.allocUnsafe(4)
  head.writeUInt32LE(body.length)
  return Buffer.concat([head, body])
}

/** Cuts a byte stream into frame bodies; chunks are joined once a frame is complete, not per chunk. */
export class Frames {
  private pending: Array<Buffer> = []
  private pendingBytes = 0
  private need = 4
  private readonly onFrame: (body: Buffer) => void
  constructor(onFrame: (body: Buffer) => void) {
    this.onFrame = onFrame
  }
  push(chunk: Buffer): void {
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes < this.need) return
    let buffer = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
    let at = 0
    while (buffer.length - at >= 4) {
      const length = buffer.readUInt32LE(at)
      if (buffer.length - at - 4 < length) break
      this.onFrame(buffer.subarray(at + 4, at + 4 + length))
      at += 4 + length
    }
    buffer = buffer.subarray(at)
    this.pending = buffer.length === 0 ? [] : [buffer]
    this.pendingBytes = buffer.length
    this.need = buffer.length >= 4 ? 4 + buffer.readUInt32LE(0) : 4
  }
}

if (process.argv[2] === "ipc") {
  process.on("message", (message) => process.send!(message))
} else if (process.argv[2] === "pipe") {
  const socket = new Socket({ fd: 3, readable: true, writable: true })
  const frames = new Frames((body) => socket.write(frame(serialize(deserialize(body)))))
  socket.on("data", (chunk: Buffer) => frames.push(chunk))
}
