/** CPU work of a given number of iterations (no clock: a preempted thread does the same work later). */
export const work = (iterations: number): number => {
  let x = 0
  for (let i = 0; i < iterations; i++) x += Math.sqrt(i + x) % 7
  return x
}
