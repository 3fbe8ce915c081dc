/** The submissions an observer follows: counted down as their tasks settle, forgotten after the last or when cancelled. */
import { assert, describe, it } from "@effect/vitest"
import { Submissions } from "../../../src/runtime/observe/Submissions.ts"

describe("Submissions", () => {
  it("counts a submission down as its tasks settle and forgets it after its last, across interleaved submissions", () => {
    const submissions = new Submissions<{ readonly name: string; remaining: number }>()
    submissions.add(1, { name: "a", remaining: 2 })
    submissions.add(2, { name: "b", remaining: 1 })
    assert.strictEqual(submissions.settle(1)?.name, "a")
    assert.strictEqual(submissions.settle(2)?.name, "b")
    assert.strictEqual(submissions.settle(2), undefined, "b's only task already settled")
    const last = submissions.settle(1)
    assert.strictEqual(last?.remaining, 0, "the last task still sees its record")
    assert.strictEqual(submissions.settle(1), undefined)
  })

  it("a cancelled submission is forgotten, also when it was the one at hand", () => {
    const submissions = new Submissions<{ remaining: number }>()
    submissions.add(1, { remaining: 3 })
    submissions.settle(1)
    submissions.cancel(1)
    assert.strictEqual(submissions.settle(1), undefined)
  })
})
