/**
 * workerpool worker for the `overhead` scenario: registers `add`.
 */
import workerpool from "workerpool"

workerpool.worker({ add: (a: number, b: number): number => a + b })
