/**
 * Writes the benchmark's ONNX model (`makeMlpModel`) to disk.
 *
 * Usage: `node scripts/make-mlp-model.ts [path] [seed]`; the path defaults to
 * `bench/models/mlp.onnx` (git-ignored) and the seed to `MLP_SEED`. The model
 * is generated, never downloaded, and the same seed always gives the same bytes.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { defaultMlpModelPath, makeMlpModel, MLP_SEED } from "../src/workloads/mlp.ts"

const [pathArgument, seedArgument] = process.argv.slice(2)
const path = pathArgument === undefined ? defaultMlpModelPath : resolve(pathArgument)
const seed = seedArgument === undefined ? MLP_SEED : Number(seedArgument)
if (!Number.isInteger(seed)) {
  console.error(`make-mlp-model: seed must be an integer, got ${seedArgument}`)
  process.exit(1)
}

const bytes = makeMlpModel(seed)
mkdirSync(dirname(path), { recursive: true })
writeFileSync(path, bytes)
console.log(`wrote ${path} (${bytes.length} bytes, seed ${seed})`)
