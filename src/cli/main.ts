#!/usr/bin/env node
/**
 * The `effect-parallel` command. Each subcommand lives in its own module beside this one and
 * is listed here; they load their heavy dependencies (cluster storage, onnxruntime) on demand,
 * so `effect-parallel info` starts without them.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
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

Command.run(root, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
