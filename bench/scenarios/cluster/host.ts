/**
 * What each runner of the cluster scenario hosts (`effect-parallel runner --module`): the Burner
 * actor on one worker thread, so that runners are what the scenario counts.
 */
import { Cluster } from "effect-parallel"
import { BurnerGroup } from "./actors.ts"

export default Cluster.host(BurnerGroup, {
  entry: new URL("./worker.ts", import.meta.url),
  size: 1,
  actors: { Burner: { init: (name) => ({ name }) } }
})
