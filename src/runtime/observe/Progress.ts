/**
 * Progress bars for `Task.map(…, { progress: true })`, drawn by cli-progress on stderr when it is
 * a terminal, and nothing at all otherwise (CI logs, pipes). A bar is a subscriber of its pool's
 * events (`followSubmission`).
 */
import cliProgress from "cli-progress"
import type { PoolEvents } from "../../core/PoolEvent.ts"

export interface Progress {
  readonly increment: () => void
  readonly stop: () => void
}

const silent: Progress = { increment: () => {}, stop: () => {} }

export const startProgress = (label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress => {
  if (!stream.isTTY) return silent
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 10
    },
    cliProgress.Presets.shades_classic
  )
  bar.start(total, 0)
  let stopped = false
  return {
    increment: () => bar.increment(),
    stop: () => {
      if (stopped) return
      stopped = true
      bar.stop()
    }
  }
}

/**
 * A progress bar that follows one submission on its pool's events: it counts that submission's
 * successes. Subscribes only when the stream is a terminal (an unobserved pool makes no events);
 * the returned function stops the bar and unsubscribes.
 */
export const followSubmission = (
  events: PoolEvents,
  submission: number,
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr
): () => void => {
  if (!stream.isTTY) return () => {}
  const bar = startProgress(label, total, stream)
  const unsubscribe = events.subscribe({
    onEvent: (event) => {
      if (event._tag === "Settled" && event.submission === submission && event.outcome === "Success") bar.increment()
    }
  })
  return () => {
    unsubscribe()
    bar.stop()
  }
}
