/**
 * One copy of `effect`: finds a pool's definitions made with another copy of the `effect` package
 * than the one effect-parallel runs on, and a worker entry that resolves another copy.
 *
 * Two copies appear when the app and the library each install `effect` (a package installed from
 * a folder that has its own `node_modules`, version ranges npm cannot dedupe). Nothing fails
 * loudly then: a Schema made by one copy is decoded by the other, whose parser does not recognise
 * the first one's AST classes, and a valid payload fails as `PayloadInvalid: Expected an integer`.
 * So a pool checks, when it is built (`WorkerPool.layer`) and in each worker thread once it has
 * loaded the entry (`threadMain.ts`):
 *
 * 1. Identity. Every AST node of the group's Schemas must be an instance of this copy's
 *    `SchemaAST` class for its tag (`SchemaAST` exports each node class under its `_tag`). This is
 *    the failure itself, not a proxy for it: no alarm when paths differ but the objects agree, and
 *    a definition made with another copy is caught wherever its module lives.
 * 2. Resolution. The entry module must resolve `effect` to the package directory effect-parallel
 *    resolves: its handlers build the Effects the worker runs, and they should be this copy's.
 *    Resolution also names the two paths for the error: an object does not say which file its
 *    class came from. Both resolutions follow symlinks, as Node's loader does, so one package
 *    reached by two paths (a workspace link, pnpm's store) counts once.
 */
import * as SchemaAST from "effect/SchemaAST"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { DuplicateEffect } from "../../core/PoolError.ts"
import type { Any, Group } from "../../core/Task.ts"

/**
 * Another copy of `effect` in the group's Schemas, or in what the entry module (`entryHref`, a
 * module URL, when the pool loads one) resolves. `where` says who found it, for the message
 * (`"worker 3"`; nothing when it is the pool itself).
 */
export const duplicateEffect = (
  group: Group<Any, unknown>,
  entryHref: string | undefined,
  where?: string
): DuplicateEffect | undefined => {
  const libraryPath = libraryEffect() ?? "(not resolvable from effect-parallel: bundled?)"
  // Only a module file resolves packages (an entry may also be a `data:` URL, say).
  const entryFile = entryHref?.startsWith("file:") ? fileURLToPath(entryHref) : undefined
  const entryPath = entryFile === undefined ? undefined : effectSeenFrom(entryFile)
  const foundBy = where === undefined ? "" : ` (found by ${where})`
  const foreign = foreignSchema(group)
  if (foreign !== undefined) {
    const definitionsPath = entryPath !== libraryPath ? entryPath : undefined
    return new DuplicateEffect({
      libraryPath,
      definitionsPath,
      message: `${foreign} was made with another copy of effect than effect-parallel's${foundBy}. ` +
        `effect-parallel uses ${libraryPath}` +
        (definitionsPath === undefined
          ? "; the definitions' copy is another one. "
          : `; the worker entry ${entryFile} uses ${definitionsPath}. `) +
        remedy
    })
  }
  // A library that resolves no effect (bundled with it) has nothing to compare a path with.
  if (entryPath !== undefined && libraryEffect() !== undefined && entryPath !== libraryPath) {
    return new DuplicateEffect({
      libraryPath,
      definitionsPath: entryPath,
      message: `The worker entry ${entryFile} uses another copy of effect than effect-parallel's${foundBy}: ` +
        `${entryPath}, where effect-parallel uses ${libraryPath}. ${remedy}`
    })
  }
  return undefined
}

const remedy = "Install effect once: it is a peer dependency of effect-parallel (`npm ls effect` lists the copies; " +
  "a package installed from a folder brings that folder's node_modules/effect)."

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

let library: { readonly path: string | undefined } | undefined

/** The package directory of the `effect` this module imports, once looked up. */
const libraryEffect = (): string | undefined => (library ??= { path: effectSeenFrom(import.meta.url) }).path

/** The package directory of the `effect` a module at `file` (a path or file URL) would import, if it resolves one. */
const effectSeenFrom = (file: string): string | undefined => {
  try {
    // `effect` exports its package.json; its exports are plain paths, the same for require and import.
    return dirname(createRequire(file).resolve("effect/package.json"))
  } catch {
    return undefined
  }
}

/** The first Schema of the group with an AST node of another copy, named for the error. */
const foreignSchema = (group: Group<Any, unknown>): string | undefined => {
  const actors = Object.values(group.actors) as ReadonlyArray<{ readonly init: Any; readonly methods: Record<string, Any> }>
  const tasks = [...Object.values(group.tasks), ...actors.flatMap((actor) => [actor.init, ...Object.values(actor.methods)])]
  for (const task of tasks) {
    for (const part of ["payload", "success", "error"] as const) {
      const tag = foreignNode(task[part].ast)
      if (tag !== undefined) return `The ${part} Schema of ${task.name} (its ${tag} node)`
    }
  }
  return undefined
}

/**
 * The fields through which an AST reaches the ASTs it is made of: members of objects, arrays,
 * unions, declarations and template literals; checks (filters, filter groups); encodings (links).
 * Annotations are left alone (they hold user values, which may carry a `_tag` of their own), and
 * so is `Suspend` (its thunk may recurse without end).
 */
const children = [
  "propertySignatures",
  "indexSignatures",
  "elements",
  "rest",
  "types",
  "typeParameters",
  "parts",
  "checks",
  "encoding",
  "type",
  "parameter",
  "to"
]

/** The tag of the first node under `root` that is not an instance of this copy's class for it. */
const foreignNode = (root: SchemaAST.AST): string | undefined => {
  const seen = new Set<object>()
  const stack: Array<unknown> = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (typeof node !== "object" || node === null || seen.has(node)) continue
    seen.add(node)
    if (Array.isArray(node)) {
      stack.push(...node)
      continue
    }
    const tag = (node as { readonly _tag?: unknown })._tag
    const Class = typeof tag === "string" ? (SchemaAST as unknown as Record<string, unknown>)[tag] : undefined
    if (typeof Class === "function" && !(node instanceof Class)) return tag as string
    for (const field of children) stack.push((node as Record<string, unknown>)[field])
  }
  return undefined
}
