/**
 * Progress bars for `Task.map(…, { progress: true })`, drawn by cli-progress on stderr when it is
 * a terminal, and nothing at all otherwise (CI logs, pipes).
 */
import cliProgress from "cli-progress"

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
