import { spawn, type ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"

/**
 * A three-server NATS cluster with JetStream, started by the test itself: loopback only, free ports,
 * one config file each (server_name, listen, cluster { name, listen, routes }, jetstream { store_dir }).
 */

const candidates = [process.env.NATS_SERVER_BIN, "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]

/** The nats-server binary, or undefined when this machine has none (the tests then say so and skip). */
export const natsServerBin: string | undefined = candidates.find((path): path is string => path !== undefined && existsSync(path))

export interface NatsServerProcess {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
  output(): string
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>
}

export interface NatsCluster {
  readonly servers: ReadonlyArray<NatsServerProcess>
  readonly urls: ReadonlyArray<string>
  close(): Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Start the three servers and wait (at most `readyMs`) until the cluster offers JetStream. */
export const startNatsCluster = async (size = 3, readyMs = 30_000): Promise<NatsCluster> => {
  if (natsServerBin === undefined) throw new Error("no nats-server binary on this machine")
  const dir = await mkdtemp(join(tmpdir(), "nats-cluster-"))
  const clientPorts = await Promise.all(Array.from({ length: size }, freePort))
  const routePorts = await Promise.all(Array.from({ length: size }, freePort))
  const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`)
  const servers: Array<NatsServerProcess> = []
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`
    const config = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${clientPorts[i]}`,
      `jetstream {`,
      `  store_dir: "${join(dir, name)}"`,
      `}`,
      `cluster {`,
      `  name: broker-test`,
      `  listen: 127.0.0.1:${routePorts[i]}`,
      `  routes: [${routes.join(", ")}]`,
      `}`
    ].join("\n")
    const file = join(dir, `${name}.conf`)
    await writeFile(file, `${config}\n`)
    const child = spawn(natsServerBin, ["-c", file], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-32 * 1024))
    child.stdout!.on("data", keep)
    child.stderr!.on("data", keep)
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    servers.push({
      name,
      url: `nats://127.0.0.1:${clientPorts[i]}`,
      child,
      output: () => output,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        await exited
      }
    })
  }
  const urls = servers.map((server) => server.url)
  const close = async () => {
    await Promise.all(servers.map((server) => server.kill()))
    await rm(dir, { recursive: true, force: true })
  }

  // Ready once a client can use JetStream: the servers have found each other and elected a meta leader.
  const deadline = Date.now() + readyMs
  for (;;) {
    try {
      const nc = await connect({ servers: [...urls], timeout: 1_000, maxReconnectAttempts: 0 })
      try {
        const jsm = await jetstreamManager(nc, { timeout: 1_000 })
        await jsm.getAccountInfo()
        break
      } finally {
        await nc.close()
      }
    } catch (error) {
      if (Date.now() > deadline) {
        await close()
        throw new Error(
          `the NATS cluster offered no JetStream within ${readyMs} ms: ${error instanceof Error ? error.message : String(error)}\n` +
            servers.map((server) => `--- ${server.name}\n${server.output().slice(-1500)}`).join("\n")
        )
      }
      await sleep(200)
    }
  }
  return { servers, urls, close }
}
