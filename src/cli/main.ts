#!/usr/bin/env node
/**
 * The `effect-parallel` command. Each subcommand lives in its own module beside this one and
 * is listed here; they load their heavy dependencies (cluster storage, onnxruntime) on demand,
 * so `effect-parallel info` starts without them.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Runtime } from "effect"
import { Command } from "effect/cli"
import { createRequire } from "node:module"
import { info } from "./info.ts"
import { runner } from "./runner.ts"
import { serve } from "./serve.ts"

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
const teardown: Runtime.Teardown = (exit, onExit) =>
  terminated && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : Runtime.defaultTeardown(exit, onExit)

Command.run(root, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
