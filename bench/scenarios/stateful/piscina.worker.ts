/**
 * Piscina worker for the `stateful` scenario: module-level state, one
 * `StreamingPrefixCount` per thread. Which counter a thread owns is decided
 * on the caller's side by the pinning load balancer in `piscina.ts`; here a
 * thread only knows "my counter".
 */
import { StreamingPrefixCount } from "../../../src/workloads/prefixCount.ts"
import type { CounterTask } from "./piscina.ts"

let state = new StreamingPrefixCount()

export default (task: CounterTask): unknown => {
  switch (task.op) {
    case "reset":
      state = new StreamingPrefixCount()
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
