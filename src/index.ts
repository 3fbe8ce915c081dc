/**
 * effect-parallel: typed tasks, actors and shared memory on pools of workers, as Effect services.
 *
 * Worker entries and the definitions they share with callers may import the lighter
 * `effect-parallel/worker` instead (`src/worker.ts`).
 */
export * as Actor from "./api/Actor.ts"
export * as ActorError from "./core/ActorError.ts"
export * as ActorPool from "./api/ActorPool.ts"
export * as Channel from "./api/Channel.ts"
export * as Cluster from "./api/Cluster.ts"
export * as ClusterError from "./core/ClusterError.ts"
export * as Observe from "./api/Observe.ts"
export * as Pipeline from "./api/Pipeline.ts"
export * as InlineBackend from "./runtime/backends/InlineBackend.ts"
export * as PoolError from "./core/PoolError.ts"
export * as ProcessBackend from "./runtime/backends/ProcessBackend.ts"
export * as Serve from "./api/Serve.ts"
export * as ServeError from "./core/ServeError.ts"
export * as SharedArray from "./api/SharedArray.ts"
export * as Simulation from "./api/Simulation.ts"
export * as Task from "./api/Task.ts"
export * as TaskError from "./core/TaskError.ts"
export * as ThreadBackend from "./runtime/backends/ThreadBackend.ts"
export * as Worker from "./core/Worker.ts"
export * as WorkerBackend from "./runtime/backends/Backend.ts"
export * as WorkerPool from "./api/WorkerPool.ts"
