/**
 * The serving example's definitions: an MNIST classifier actor whose batch method takes a
 * `rows × 784` Float32 matrix of images and returns `rows × 10` class probabilities.
 */
import * as Schema from "effect/Schema"
import { Actor, Serve, Task } from "effect-parallel"

export const Mnist = Actor.make("Mnist", {
  init: { modelPath: Schema.String },
  methods: { predictBatch: Serve.batchMethod }
})

export const MnistModels = Task.group(Mnist)
