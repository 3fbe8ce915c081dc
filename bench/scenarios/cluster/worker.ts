/**
 * The cluster scenario's worker entry (runners' pools and the local pool alike).
 */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { BurnerGroup } from "./actors.ts"

export default Worker.serve(BurnerGroup, {
  Burner: () =>
    Effect.sync(() => {
      let calls = 0
      return {
        burn: ({ millis }) =>
          Effect.sync(() => {
            const end = performance.now() + millis
            while (performance.now() < end) { /* CPU-bound on purpose */ }
            return ++calls
          }),
        ping: () => Effect.sync(() => (++calls, process.pid))
      }
    })
})
