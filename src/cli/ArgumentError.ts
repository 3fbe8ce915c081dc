/**
 * A command-line value a subcommand refuses once it runs (a port out of range, a module that is
 * not a runner module): what effect's parser does for a flag that does not parse, for the checks
 * it cannot make. `Command.run` prints its message as an ERROR block, without a stack (it is the
 * user's input, not a bug), and the process exits 2, the usage-error code, as for a parse error.
 */
import { Runtime } from "effect"
import { CliError } from "effect/cli"

export class ArgumentError extends Error {
  override readonly name = "ArgumentError"
  override readonly [Runtime.errorExitCode] = 2

  override get [CliError.userMessage](): string {
    return this.message
  }
}

/** The exit code of a command line that does not parse, or that a subcommand refuses. */
export const usageExitCode = 2
