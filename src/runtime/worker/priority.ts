/**
 * Lowers a worker's CPU scheduling priority (the pool's `nice`), from inside the worker, before its
 * entry loads: threads started afterwards (an inference runtime's own) inherit it.
 *
 * Linux only: there a nice value belongs to a thread, so a worker thread can lower itself without
 * touching the caller's thread, and a worker process lowers each thread it has so far.
 */
import { readdirSync, readlinkSync } from "node:fs"
import { setPriority } from "node:os"

/** This thread (a worker thread): its id is the last part of `/proc/thread-self`. */
export const lowerThisThread = (nice: number): void => {
  setPriority(Number(readlinkSync("/proc/thread-self").split("/").at(-1)), nice)
}

/** Every thread of this process (a worker process). */
export const lowerThisProcess = (nice: number): void => {
  for (const tid of readdirSync("/proc/self/task")) setPriority(Number(tid), nice)
}
