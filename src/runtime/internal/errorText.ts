/**
 * Texts of errors that more than one module builds: a worker's error as the caller prints it, a
 * result its Schema refused, and the refusal of a module that is not a worker entry.
 */
import { renderInput, renderPath } from "../../core/TaskError.ts"

/**
 * A remote error (a worker's, sent as its name, message and stack) as one text: the stack, which
 * V8 starts with `name: message`, or that line alone when there is none; the line before a stack
 * that does not start with it. Both together printed the first line twice.
 */
export const remoteErrorText = (remote: { readonly name?: string; readonly message?: string; readonly stack?: string }): string => {
  const head = `${remote.name}: ${remote.message}`
  if (remote.stack === undefined || remote.stack === "") return head
  return remote.stack.startsWith(head) ? remote.stack : `${head}\n${remote.stack}`
}

/** What a worker (or an in-process backend) throws for a module that is not a worker entry: where it is, and the fix. */
export const notAnEntry = (module: string): TypeError =>
  new TypeError(`${module} has no default export made by Worker.serve: end it with export default Worker.serve(Group, handlers)`)

/** The most of an uncaught error's text a pool is told (a process pool's stderr tail is as long). */
export const maxUncaughtText = 4_096

/**
 * An error that ended a worker, as `WorkerLost`'s message quotes it: its start, cut at
 * `maxUncaughtText` characters (an error may carry megabytes), saying so. Never throws: in a
 * child's `uncaughtExceptionMonitor` listener a throw makes Node end the process at once (code
 * 7), without its exit hooks, so answers held for the pool would be lost with the cause.
 */
export const uncaughtText = (error: unknown): string => {
  let text: string
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } catch {
    return `an uncaught ${error === null ? "null" : typeof error} that cannot be turned into text`
  }
  return cut(text, maxUncaughtText)
}

/** `text`'s first `max` characters, saying how many more were cut. */
export const cut = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} characters cut)`

/**
 * What is wrong with a handler's result: where (no `at []` for the whole of it) and, for a Schema's
 * issue, what the result was (`[result]`, bounded): the issue alone ("Expected number") left the
 * caller to guess what the handler returned.
 */
export const resultText = (
  what: string,
  // A `PayloadIssue`, by its shape: the protocol module imports this one.
  issue: { readonly path: ReadonlyArray<string | number>; readonly message: string },
  result: ReadonlyArray<unknown>
): string =>
  `result ${what}${issue.path.length > 0 ? ` at ${renderPath(issue.path)}` : ""}: ${issue.message}${
    result.length === 0 ? "" : `; the result: ${renderInput(result[0])}`
  }`
