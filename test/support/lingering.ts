/**
 * Connections a server must not outlive: one that has sent no request yet (as a browser's
 * preconnect) and one with half a request, which a graceful close waits for rather than closes.
 */
import * as Effect from "effect/Effect"
import { connect, type Socket } from "node:net"

/** Opens the two connections to `port` on loopback; `path` is the half request's. */
export const openLingering = (port: number, path: string): Effect.Effect<ReadonlyArray<Socket>> =>
  Effect.gen(function*() {
    const sockets: Array<Socket> = []
    for (let i = 0; i < 2; i++) {
      const socket = connect(port, "127.0.0.1")
      socket.on("error", () => {})
      sockets.push(socket)
      yield* Effect.promise(() => new Promise((resolve) => socket.once("connect", resolve)))
    }
    sockets[1]!.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n`)
    return sockets
  })

/**
 * Whether the server closed all of `sockets` within 10 s (Node's own timeouts would take a minute:
 * the bound makes a test fail rather than hang); destroys them either way.
 */
export const closedByServer = (sockets: ReadonlyArray<Socket>): Effect.Effect<boolean> =>
  Effect.forEach(sockets, (socket) =>
    Effect.promise(() => new Promise((resolve) => socket.destroyed ? resolve(undefined) : socket.once("close", resolve)))).pipe(
      Effect.timeoutOption("10 seconds"),
      Effect.map((ended) => ended._tag === "Some"),
      Effect.ensuring(Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
      }))
    )
