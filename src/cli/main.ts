#!/usr/bin/env node
/**
 * The `effect-parallel` command. Each subcommand lives in its own module beside this one and
 * is listed here; they load their heavy dependencies (cluster storage, onnxruntime) on demand,
 * so `effect-parallel info` starts without them.
 */
import { Cause, Effect, Exit, Runtime } from "effect"
import { CliError, Command } from "effect/cli"
import { createRequire } from "node:module"
import { usageExitCode } from "./ArgumentError.ts"
import { info } from "./info.ts"
import { runner } from "./runner.ts"
import { serve } from "./serve.ts"

// An optional peer (an app that only runs pools need not install it), so imported here: a static
// import left a user without it Node's loader stack, even for `--help`.
const { NodeRuntime, NodeServices } = await import("@effect/platform-node").catch((error: unknown) => {
  if ((error as { readonly code?: unknown } | null)?.code !== "ERR_MODULE_NOT_FOUND" || !String(error).includes("'@effect/platform-node'")) {
    throw error
  }
  process.stderr.write(
    "the effect-parallel command needs @effect/platform-node, an optional peer of effect-parallel: npm install @effect/platform-node\n"
  )
  return process.exit(1)
})

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string }

const root = Command.make("effect-parallel").pipe(
  Command.withDescription("Parallel computing for Effect: pools, actors, serving and clusters"),
  Command.withSubcommands([info, serve, runner])
)

// A server or runner stopped with SIGTERM (a supervisor's stop: systemd, Kubernetes) that drained
// cleanly did what was asked: it exits 0. Ctrl-C keeps the shell's convention (130), and a
// failure its code. A second signal stops at once: the first only interrupts, and a drain can
// wait its whole timeout (30 s by default) on a client that never finishes its request.
let terminated = false
let signalled = false
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(code)
    signalled = true
    if (signal === "SIGTERM") terminated = true
  })
}
// A command line that does not parse (effect prints the help and what is wrong) exits 2, the
// usage-error code, so a script tells a typo from a command that ran and failed (1).
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isSuccess(exit)
    ? onExit(0)
    : terminated && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : isParseError(Cause.squash(exit.cause))
    ? onExit(usageExitCode)
    : Runtime.defaultTeardown(exit, onExit)

/** `ShowHelp` with errors: the parser's refusal (without errors it is a plain `--help`). */
const isParseError = (error: unknown): boolean =>
  CliError.isCliError(error) && error._tag === "ShowHelp" && error.errors.length > 0

Command.run(root, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
