import { createConnection, createServer, type Server, type Socket } from "node:net"

/**
 * A TCP proxy in front of the NATS server that a test can cut and restore, to take one broker
 * node's NATS connection away while the others keep theirs.
 */
export interface CuttableProxy {
  /** nats://127.0.0.1:<port> */
  readonly url: string
  /** Drop every connection and refuse new ones until `restore`. */
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export const startProxy = async (target: string): Promise<CuttableProxy> => {
  const { hostname, port: targetPort } = new URL(target)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = createConnection({ host: hostname, port: Number(targetPort || 4222) })
        sockets.add(client)
        sockets.add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on("error", drop).on("close", drop)
        upstream.on("error", drop).on("close", drop)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      next.once("error", reject)
      next.listen(port, "127.0.0.1", () => {
        const address = next.address()
        if (address !== null && typeof address === "object") port = address.port
        server = next
        resolve()
      })
    })

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      if (server === undefined) return resolve()
      server.close(() => resolve())
      server = undefined
    })

  await listen()
  return { url: `nats://127.0.0.1:${port}`, cut: stop, restore: listen, close: stop }
}
