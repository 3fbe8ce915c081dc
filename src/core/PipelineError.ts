/**
 * How a pipeline fails besides its stages' own errors: its error budget ran out. A stage with the
 * skip-and-record policy records each failed element (`Pipeline.StageFailure`) and goes on; once
 * more elements failed than the budget allows, the pipeline fails with this error.
 */
import * as Schema from "effect/Schema"

export class PipelineError extends Schema.TaggedError<PipelineError>()("PipelineError", {
  /** The stage whose failure went over the budget. */
  stage: Schema.String,
  budget: Schema.Number,
  /** Failures recorded, this last one included. */
  failures: Schema.Number,
  /** The last failure, rendered (bounded). */
  last: Schema.String
}) {
  override get message(): string {
    return `pipeline error budget exceeded at stage ${this.stage}: ${this.failures} failures, budget ${this.budget} (last: ${this.last})`
  }
}
