/**
 * Reading an actor's restart policy, shared by `Actor.spawn` and `Cluster.host` so that both refuse
 * the same policies with the same words.
 */
import type * as Duration from "effect/Duration"
import type { RestartPolicy } from "../../core/Actor.ts"
import { durationMillis } from "../../runtime/internal/duration.ts"

/**
 * A restart policy in milliseconds, or why it is none (`caller` names where it was given). Checked
 * before anything is spawned: a NaN `maxRestarts` made `restarts >= maxRestarts` never true
 * (unbounded restarts), and a backoff that was not a duration silently became the default.
 */
export const resolveRestart = (
  caller: string,
  policy: RestartPolicy | undefined
): { readonly maxRestarts: number; readonly backoffMillis: number; readonly maxBackoffMillis: number } | RangeError => {
  const maxRestarts = policy?.maxRestarts ?? 0
  if (!(Number.isInteger(maxRestarts) && maxRestarts >= 0) && maxRestarts !== Infinity) {
    return new RangeError(
      `${caller}: restart.maxRestarts must be a whole number >= 0, or Infinity; got ${String(maxRestarts)}`
    )
  }
  const millis = (input: Duration.Input | undefined, fallback: number, option: string): number | RangeError => {
    if (input === undefined) return fallback
    const value = durationMillis(input)
    return value >= 0 ? value : new RangeError(`${caller}: restart.${option} must be a duration >= 0; got ${String(input)}`)
  }
  const backoffMillis = millis(policy?.backoff, 100, "backoff")
  if (backoffMillis instanceof RangeError) return backoffMillis
  const maxBackoffMillis = millis(policy?.maxBackoff, 30_000, "maxBackoff")
  if (maxBackoffMillis instanceof RangeError) return maxBackoffMillis
  return { maxRestarts, backoffMillis, maxBackoffMillis }
}
