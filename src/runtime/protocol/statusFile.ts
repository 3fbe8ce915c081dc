/**
 * The layout of a child process's status file (`ProcessBackend`, `processMain.ts`): what a child
 * tells its pool outside the IPC channel, so that it survives the child's death. Written by the
 * child, read by the pool; both take the offsets from here.
 */

/** Bytes 0–3: the count of tasks taken off the queue (Int32; the Dispatcher's rule 7), written as each is taken. */
export const takenAt = 0
/** Bytes 4–7: the µs the worker has been busy, modulo 2^32 (Uint32; its rule 12), written as answers go. */
export const busyAt = 4
/** From byte 8: the text of the uncaught error that ended the child, written as it ends. */
export const crashTextAt = 8
