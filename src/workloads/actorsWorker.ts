/**
 * Worker entry of the actor workloads: serves `PrefixCounter` and `Classifier`.
 */
import { Worker } from "../worker.ts"
import { ActorWorkloads, classifier, prefixCounter } from "./statefulActors.ts"

export default Worker.serve(ActorWorkloads, { PrefixCounter: prefixCounter, Classifier: classifier })
