/**
 * effect-parallel: typed tasks, actors and shared memory on pools of workers, as Effect services.
 */
export * as Simulation from "./core/Simulation.ts"
export * as Task from "./core/Task.ts"
export * as TaskError from "./core/TaskError.ts"
export * as Worker from "./core/Worker.ts"
export * as WorkerPool from "./core/WorkerPool.ts"
export * as SharedArray from "./core/SharedArray.ts"
export * as Actor from "./core/Actor.ts"
export * as ActorError from "./core/ActorError.ts"
export * as ActorPool from "./core/ActorPool.ts"
