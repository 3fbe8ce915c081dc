/**
 * Piscina worker for the `overhead` scenario: one task is one addition.
 */
import type { AddInput } from "./variant.ts"

export default ({ a, b }: AddInput): number => a + b
