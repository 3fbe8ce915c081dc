import { assert, describe, it } from "@effect/vitest"
import { Writable } from "node:stream"
import { startProgress } from "../../../src/runtime/observe/Progress.ts"

/** A stream that records what is written to it, claiming to be a terminal or not. */
const fakeStream = (isTTY: boolean) => {
  const chunks: Array<string> = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk))
      callback()
    }
  }) as Writable & { isTTY: boolean; columns: number; cursorTo: () => boolean; clearLine: () => boolean; moveCursor: () => boolean }
  stream.isTTY = isTTY
  stream.columns = 120
  stream.cursorTo = () => true
  stream.clearLine = () => true
  stream.moveCursor = () => true
  return { stream: stream as unknown as NodeJS.WriteStream, chunks }
}

describe("Progress", () => {
  it("draws a bar with the label and counts on a terminal", () => {
    const { stream, chunks } = fakeStream(true)
    const progress = startProgress("Convolve", 4, stream)
    for (let i = 0; i < 4; i++) progress.increment()
    progress.stop()
    const output = chunks.join("")
    assert.include(output, "Convolve")
    assert.include(output, "4/4")
  })

  it("stays silent when the output is not a terminal", () => {
    const { stream, chunks } = fakeStream(false)
    const progress = startProgress("Convolve", 4, stream)
    for (let i = 0; i < 4; i++) progress.increment()
    progress.stop()
    assert.deepStrictEqual(chunks, [])
  })
})
