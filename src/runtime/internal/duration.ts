/**
 * Reading duration options. `Duration.fromInput` reads a NaN number as zero, which options took for
 * "at once" (a 1 ms timeout, no drain, a 1 ms abandon limit): every option reads through here.
 */
import * as Duration from "effect/Duration"

/** `input` in milliseconds; `NaN` when it is `NaN` or no duration at all (`"soon"`). */
export const durationMillis = (input: Duration.Input): number => {
  if (typeof input === "number" && Number.isNaN(input)) return Number.NaN
  const duration = Duration.fromInput(input)
  return duration._tag === "None" ? Number.NaN : Duration.toMillis(duration.value)
}

/** The longest delay `setTimeout` waits: past it, Node fires after 1 ms. */
export const maxTimerMillis = 2 ** 31 - 1
