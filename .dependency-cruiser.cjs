/**
 * The layers of effect-parallel, checked in `npm test` (`npm run deps`). Imports flow one way:
 *
 *   src/core      definitions: tasks, actors, shared-array Schemas, worker entries, errors
 *       ↑
 *   src/runtime   the machinery, in folders; it owns the contracts it implements
 *       ↑
 *   src/api       the public calling API: thin functions over the runtime's contracts
 *       ↑
 *   src/index.ts (effect-parallel), src/worker.ts (effect-parallel/worker)
 *
 * `src/workloads` uses only the two entries, like any user's code.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "No import cycles at all, type-only imports included.",
      from: {},
      to: { circular: true }
    },
    {
      name: "core-is-definitions",
      severity: "error",
      comment: "Definitions import no machinery and no public calling API.",
      from: { path: "^src/core/" },
      to: { path: "^src/(runtime|api|workloads)/|^src/(index|worker)\\.ts$" }
    },
    {
      name: "runtime-below-api",
      severity: "error",
      comment: "The machinery never reaches up into the public API.",
      from: { path: "^src/runtime/" },
      to: { path: "^src/(api|workloads)/|^src/(index|worker)\\.ts$" }
    },
    {
      name: "api-through-entries",
      severity: "error",
      comment: "Only the package entries expose the public API.",
      from: { path: "^src/(core|runtime)/" },
      to: { path: "^src/api/" }
    },
    {
      name: "call-path-knows-contracts-only",
      severity: "error",
      comment: "The caller's call path sees a pool through its contracts (client/PoolClient.ts), never a scheduler or a backend.",
      from: { path: "^src/runtime/(client|memory|protocol)/" },
      to: { path: "^src/runtime/(scheduler|backends|worker|observe)/" }
    },
    {
      name: "scheduler-over-any-backend",
      severity: "error",
      comment: "The scheduler drives the backend contract (backends/Backend.ts), not a particular backend.",
      from: { path: "^src/runtime/scheduler/" },
      to: { path: "^src/runtime/backends/", pathNot: "^src/runtime/backends/Backend\\.ts$" }
    },
    {
      name: "worker-side-stays-light",
      severity: "error",
      comment: "A worker loads only what it runs: no scheduler, backends, progress bar or simulation.",
      from: { path: "^src/runtime/worker/|^src/worker\\.ts$" },
      to: {
        path: "^src/runtime/(scheduler|backends|observe)/|^src/api/(WorkerPool|Simulation|Task|ActorPool)\\.ts$|^src/core/Fault\\.ts$|cli-progress|node_modules/effect/.*/Arbitrary",
        reachable: true
      }
    },
    {
      name: "src-stands-alone",
      severity: "error",
      comment: "The library never imports its tests, benchmarks, examples or scripts.",
      from: { path: "^src/" },
      to: { path: "^(test|bench|examples|scripts)/" }
    },
    {
      name: "workloads-use-public-api",
      severity: "error",
      comment: "The seeds' workloads are written against the public API only.",
      from: { path: "^src/workloads/" },
      to: { path: "^src/(core|runtime|api)/" }
    },
    {
      name: "library-not-on-dev-dependencies",
      severity: "error",
      comment: "The library (not its dev-only workloads) must run with its dependencies alone (effect is a peer dependency, and a devDependency for this repository).",
      from: { path: "^src/(core|runtime|api)/|^src/(index|worker)\\.ts$" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["npm-peer"] }
    },
    {
      name: "no-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  options: {
    // TypeScript 7 has no JavaScript API yet: swc parses the sources.
    parser: "swc",
    tsPreCompilationDeps: true,
    moduleSystems: ["es6"],
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^bench/results" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["effect-parallel-source", "import", "types", "default"], extensions: [".ts", ".js"] }
  }
}
