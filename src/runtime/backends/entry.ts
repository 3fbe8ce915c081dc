/**
 * Finding a worker entry: a module URL or path (what a thread loads), or, for backends that run
 * workers in this thread, the entry itself or its module's default export.
 */
import * as Effect from "effect/Effect"
import { fileURLToPath, pathToFileURL } from "node:url"
import { InvalidOptions, PoolError, WorkerInitFailed } from "../../core/PoolError.ts"
import { isWorkerEntry, type WorkerEntry } from "../../core/Worker.ts"
import { notAnEntry } from "../internal/errorText.ts"

/**
 * The entry itself, or the default export of its module. `wrap` sees the import's promise: a
 * simulation holds its world still while a module loads.
 */
export const loadEntry = (
  entry: URL | string | WorkerEntry,
  wrap: <A>(promise: Promise<A>) => Promise<A> = (promise) => promise
): Effect.Effect<WorkerEntry, PoolError> => {
  if (isWorkerEntry(entry)) return Effect.succeed(entry)
  const href = toHref(entry)
  return Effect.tryPromise({
    try: () =>
      wrap(import(href).then((module) => {
        const loaded = module.default
        if (!isWorkerEntry(loaded)) throw notAnEntry(fileURLToPath(href))
        return loaded
      })),
    catch: (error) => new PoolError({ reason: new WorkerInitFailed({ workerId: 0, failure: "Failed", message: String(error) }) })
  })
}

/**
 * The entry's module URL, for backends that start a module in another thread or process; an entry
 * given as a value cannot be sent there.
 */
export const moduleHref = (entry: URL | string | WorkerEntry, backend: string): Effect.Effect<string, PoolError> =>
  isWorkerEntry(entry)
    ? Effect.fail(
      new PoolError({ reason: new InvalidOptions({ path: ["entry"], message: `the ${backend} backend needs the entry's module URL or path` }) })
    )
    : Effect.succeed(toHref(entry))

/** A module URL, from a URL, a `file:` URL string or a path. */
export const toHref = (entry: URL | string): string =>
  entry instanceof URL ? entry.href : entry.startsWith("file:") ? entry : pathToFileURL(entry).href
