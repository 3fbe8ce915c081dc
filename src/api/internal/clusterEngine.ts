/**
 * The cluster engine's values that `Cluster` needs at run time: effect/cluster's entities, the
 * cluster pool and the in-memory runner. `Cluster` loads this module when a cluster is first used,
 * not when it is imported (see its `engine`).
 */
export * as TestRunner from "effect/cluster/TestRunner"
export { catchRemoteInterrupt, entityOf, persistedTag, toCallFailure } from "../../runtime/cluster/ActorEntity.ts"
export { ClusterPool } from "../../runtime/cluster/ClusterPool.ts"
export { taskEntityOf } from "../../runtime/cluster/TaskEntity.ts"
export { layerEntity, layerTaskEntity } from "./clusterEntities.ts"
