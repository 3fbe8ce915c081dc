/**
 * effect-parallel for worker entries and the definitions callers share with them: tasks and
 * actors (`make`, `group`, `Ref`), channels, shared-array Schemas and the constructors a handler uses,
 * `Worker.serve`, and the errors — without the pools, the simulation or the progress bar, so a
 * worker loads only what it runs.
 */
export * as Actor from "./api/Actor.ts"
export * as ActorError from "./core/ActorError.ts"
export * as Channel from "./api/Channel.ts"
export * as SharedArray from "./api/SharedArray.ts"
export * as Task from "./core/Task.ts"
export * as TaskError from "./core/TaskError.ts"
export * as Worker from "./core/Worker.ts"
