/**
 * The submissions an observer follows (insights, metrics), by id, from `Submitted` until their
 * last task settles or they are cancelled. A map's tasks settle in runs of one submission: the
 * record looked up last is kept at hand, so most settlements cost no map lookup.
 */
export class Submissions<R extends { remaining: number }> {
  private readonly byId = new Map<number, R>()
  private lastId = -1
  private last: R | undefined = undefined

  add(id: number, record: R): void {
    this.byId.set(id, record)
  }

  /** One of its tasks settled: its record (undefined when not followed), forgotten after its last task. */
  settle(id: number): R | undefined {
    let record = this.last
    if (record === undefined || this.lastId !== id) {
      record = this.byId.get(id)
      this.last = record
      this.lastId = id
    }
    if (record !== undefined && --record.remaining === 0) {
      this.byId.delete(id)
      this.last = undefined
    }
    return record
  }

  cancel(id: number): void {
    this.byId.delete(id)
    if (this.lastId === id) this.last = undefined
  }
}
