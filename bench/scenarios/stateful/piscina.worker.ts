/**
 * Piscina worker for the `stateful` scenario: module-level state, one
 * `StreamingPrefixCount` per thread. Which counter a thread owns is decided
 * on the caller's side by the pinning load balancer in `piscina.ts`; here a
 * thread only knows "my counter".
 */
import { workerData } from "node:worker_threads"
import { type CounterKind, makePrefixCount } from "../../../src/workloads/prefixCount.ts"
import type { CounterTask } from "./piscina.ts"

const kind = (workerData as { counter: CounterKind }).counter
let state = makePrefixCount(kind)

export default (task: CounterTask): unknown => {
  switch (task.op) {
    case "reset":
      state = makePrefixCount(kind)
      return null
    case "add":
      state.add(task.arg)
      return null
    case "popular":
      return [...state.popular()]
    case "count":
      return state.count(task.arg)
  }
}
