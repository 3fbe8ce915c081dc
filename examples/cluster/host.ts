/**
 * What each runner hosts: `effect-parallel runner --module examples/cluster/host.ts`. The page
 * counter is durable: its `state` method is snapshotted after every call and handed back to `init`
 * when the entity is activated again, on whichever runner then owns it.
 */
import { Cluster } from "effect-parallel"
import { SiteTasks } from "./actors.ts"

export default Cluster.host(SiteTasks, {
  entry: new URL("./worker.ts", import.meta.url),
  size: 1,
  actors: {
    PageCounter: {
      snapshot: "state",
      init: (page, restored) => (restored === undefined ? { page } : { page, restored })
    }
  }
})
